// Fuzzes the WebDataset shard reader: the tar header scan (reca/data/tar_index.h
// ScanTar) and OpenWebDataset's grouping of members into samples, then loads
// (decodes and resizes) the first few samples. The input is the shard; it is
// handed over as an in-memory file (memfd).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "reca/data/dataset.h"
#include "reca/data/tar_index.h"

namespace {

int ShardFd() {
  static const int fd = [] {
    const int f = ::memfd_create("fuzz-shard", MFD_CLOEXEC);
    if (f < 0) std::abort();
    return f;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = ShardFd();
  if (::ftruncate(fd, 0) != 0) std::abort();
  if (size > 0 && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();

  reca::StatusOr<reca::TarIndex> index = reca::ScanTar(fd, static_cast<int64_t>(size), "fuzz.tar");
  if (!index.ok()) std::abort();  // a damaged archive is a TarIndex::problem, never an error
  for (const reca::TarMember& m : index->members) {
    if (m.name.empty() || m.data_offset < 512 || m.size < 0 ||
        m.data_offset + m.size > static_cast<int64_t>(size)) {
      std::abort();
    }
  }
  if (index->problem.empty() != (index->problem_offset < 0)) std::abort();

  reca::DatasetOptions options;
  options.image_size = 8;
  options.max_pixels = 1 << 20;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  reca::StatusOr<std::unique_ptr<reca::Dataset>> ds = reca::OpenWebDataset({path}, options);
  if (!ds.ok()) return 0;
  (void)(*ds)->Describe();
  (void)(*ds)->open_problems();
  for (int64_t i = 0; i < (*ds)->size() && i < 4; ++i) {
    reca::StatusOr<reca::Sample> s = (*ds)->Load(i);
    if (s.ok() && (s->image.width != 8 || s->image.height != 8 || s->image.pixels.size() != 8 * 8 * 3)) {
      std::abort();
    }
  }
  return 0;
}
