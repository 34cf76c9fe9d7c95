#include "worker/checkpoint_scanner.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "reca/ckpt/sha256.h"
#include "reca/file_util.h"

namespace reca {
namespace fs = std::filesystem;

std::vector<CommittedCheckpoint> CheckpointScanner::ScanNew(
    std::vector<std::string>* errors) {
  auto fail = [&](const std::string& what) {
    if (errors) errors->push_back(what);
  };
  StatusOr<std::vector<CheckpointInfo>> committed = store_.List();  // by step
  if (!committed.ok()) {
    fail(committed.status().ToString());
    return {};
  }
  std::vector<CommittedCheckpoint> out;
  for (const CheckpointInfo& c : *committed) {
    const int64_t step = c.step;
    const std::string& path = c.path;
    const std::string manifest_path = path + "/MANIFEST.json";
    struct stat st;
    if (::stat(manifest_path.c_str(), &st) != 0) {
      fail(manifest_path + ": " + std::strerror(errno));
      continue;
    }
    const std::pair<ino_t, int64_t> identity{
        st.st_ino, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                       st.st_mtim.tv_nsec};
    auto seen = returned_.find(step);
    if (seen != returned_.end() && seen->second == identity) continue;
    StatusOr<std::string> manifest = ReadFile(manifest_path);
    if (!manifest.ok()) {
      fail(manifest.status().ToString());
      continue;
    }
    StatusOr<CheckpointManifest> parsed =
        ParseCheckpointManifest(*manifest, manifest_path);
    if (!parsed.ok()) {
      fail(parsed.status().ToString());
      continue;
    }
    CommittedCheckpoint info;
    info.step = step;
    info.path = path;
    info.manifest_sha256 = Sha256Hex(*manifest);
    info.epoch = parsed->epoch;
    info.commit_unix_micros =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 +
        st.st_mtim.tv_nsec / 1000;
    std::error_code walk_ec;
    for (fs::recursive_directory_iterator f(path, walk_ec), end;
         !walk_ec && f != end; f.increment(walk_ec)) {
      std::error_code size_ec;
      if (!f->is_regular_file(size_ec)) continue;
      const uintmax_t size = f->file_size(size_ec);
      if (!size_ec) info.bytes += static_cast<int64_t>(size);
    }
    if (walk_ec) {
      fail(path + ": " + walk_ec.message());
      continue;
    }
    returned_[step] = identity;
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace reca
