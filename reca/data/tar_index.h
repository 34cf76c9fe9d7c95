// Indexes a tar archive by reading its 512-byte headers only, seeking over the
// member data (the WebDataset shard reader's first step). Understands POSIX
// ustar (with the prefix field), GNU tar (long names 'L', base-256 sizes) and
// pax ('x' headers: path= and size=). Torch-free; pure function of the file.
#ifndef RECA_DATA_TAR_INDEX_H_
#define RECA_DATA_TAR_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

// One regular-file member: its data is bytes [data_offset, data_offset + size).
struct TarMember {
  std::string name;  // full path inside the archive, without a leading "./"
  int64_t data_offset = 0;
  int64_t size = 0;
};

struct TarIndex {
  // Regular files (typeflag '0', '\0', '7') in archive order, all lying fully
  // inside the file; directories, links and other entries are left out.
  std::vector<TarMember> members;
  // Empty for an archive read cleanly to its end-of-archive block (or to the
  // end of the file on a header boundary). Otherwise what stopped the scan,
  // e.g. "bad header checksum at byte 1536"; `members` then holds everything
  // before the damage.
  std::string problem;
  int64_t problem_offset = -1;  // byte offset of the damaged header, -1 if none
  // The name of the member whose data runs past the end of the file, when the
  // damage is one (its header was readable); empty otherwise.
  std::string damaged_member;
};

// Scans the open file `fd` of `file_size` bytes with pread (thread-safe; the
// file offset is not used). `path` only names the file in errors. A damaged
// archive is not an error (see TarIndex::problem); an I/O error is
// InternalError naming `path`.
StatusOr<TarIndex> ScanTar(int fd, int64_t file_size, const std::string& path);

// Opens `path`, scans it and closes it. NotFound when it does not exist.
StatusOr<TarIndex> ScanTarFile(const std::string& path);

}  // namespace reca

#endif  // RECA_DATA_TAR_INDEX_H_
