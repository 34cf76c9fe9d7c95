#include "worker/checkpoint_scanner.h"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <system_error>

#include "reca/ckpt/sha256.h"
#include "reca/file_util.h"

namespace reca {
namespace fs = std::filesystem;

std::optional<int64_t> CheckpointStepOf(const std::string& dir_name) {
  constexpr char kPrefix[] = "step-";
  constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
  if (dir_name.size() <= kPrefixLen ||
      dir_name.compare(0, kPrefixLen, kPrefix) != 0)
    return std::nullopt;
  if (dir_name.size() - kPrefixLen > 18) return std::nullopt;  // fits int64
  int64_t step = 0;
  for (size_t i = kPrefixLen; i < dir_name.size(); ++i) {
    const char c = dir_name[i];
    if (c < '0' || c > '9') return std::nullopt;
    step = step * 10 + (c - '0');
  }
  return step;
}

std::vector<CheckpointInfo> CheckpointScanner::ScanNew(
    std::vector<std::string>* errors) {
  auto fail = [&](const std::string& what) {
    if (errors) errors->push_back(what);
  };
  std::map<int64_t, std::string> candidates;  // by step
  std::error_code ec;
  // error_code overloads throughout: nothing here throws.
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::optional<int64_t> step =
        CheckpointStepOf(it->path().filename().string());
    if (!step || returned_.count(*step)) continue;
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec)) continue;
    candidates.emplace(*step, it->path().string());
  }
  // A missing directory (no checkpoint yet) is no error.
  if (ec && ec != std::errc::no_such_file_or_directory)
    fail(dir_ + ": " + ec.message());
  std::vector<CheckpointInfo> out;
  for (const auto& [step, path] : candidates) {
    const std::string manifest_path = path + "/MANIFEST.json";
    std::error_code exists_ec;
    if (!fs::exists(manifest_path, exists_ec)) continue;  // not committed
    StatusOr<std::string> manifest = ReadFile(manifest_path);
    if (!manifest.ok()) {
      fail(manifest.status().ToString());
      continue;
    }
    CheckpointInfo info;
    info.step = step;
    info.path = path;
    info.manifest_sha256 = Sha256Hex(*manifest);
    struct stat st;
    if (::stat(manifest_path.c_str(), &st) == 0) {
      info.commit_unix_micros =
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 +
          st.st_mtim.tv_nsec / 1000;
    }
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
    returned_.insert(step);
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace reca
