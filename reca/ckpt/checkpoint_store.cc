#include "reca/ckpt/checkpoint_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <set>
#include <nlohmann/json.hpp>

#include "reca/ckpt/sha256.h"
#include "reca/file_util.h"

namespace reca {
namespace {

using json = nlohmann::json;

constexpr char kManifestName[] = "MANIFEST.json";
constexpr char kFormat[] = "reca-checkpoint/1";
constexpr char kStepPrefix[] = "step-";
// Work directories: .tmp-step-<step>-<pid> (a commit in progress) and
// .trash-step-<step>-<pid> (a checkpoint being deleted by retention).
constexpr char kTmpPrefix[] = ".tmp-";
constexpr char kTrashPrefix[] = ".trash-";
constexpr size_t kMaxNameLen = 255;  // NAME_MAX on Linux file systems

Status AlreadyExistsError(const std::string& msg) {
  return Status(StatusCode::kAlreadyExists, msg);
}

std::string Join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string StepDirName(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08" PRId64, step);
  return buf;
}

// Parses 1..18 decimal digits (no sign) in [begin, end) of `s`.
bool ParseDigits(const std::string& s, size_t begin, size_t end, int64_t* out) {
  if (begin >= end || end - begin > 18) return false;
  int64_t v = 0;
  for (size_t i = begin; i < end; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "<prefix>step-<digits>-<pid digits>" exactly.
bool ParseWorkDirName(const std::string& name, const char* prefix, pid_t* pid) {
  const size_t n = std::strlen(prefix);
  if (name.compare(0, n, prefix) != 0) return false;
  const size_t dash = name.find_last_of('-');
  int64_t step = 0, p = 0;
  if (dash == std::string::npos || dash < n || !ParseStepDirName(name.substr(n, dash - n), &step) ||
      !ParseDigits(name, dash + 1, name.size(), &p) || p <= 0 || p > INT32_MAX) {
    return false;
  }
  *pid = static_cast<pid_t>(p);
  return true;
}

bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// Why `name` cannot be a checkpoint file name, or "" when it can.
std::string BadNameReason(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name == "." || name == "..") return "is not a file name";
  if (name.find('/') != std::string::npos) return "contains '/'";
  if (name.find('\0') != std::string::npos) return "contains NUL";
  if (name == kManifestName) return "is reserved for the manifest";
  if (name.size() > kMaxNameLen) return "is longer than 255 bytes";
  if (!IsValidUtf8(name)) return "is not valid UTF-8";
  return "";
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Names of the entries of `dir` (without "." and ".."). A missing `dir` is
// NotFound.
StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("cannot open directory", dir, errno);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      const int err = errno;
      ::closedir(d);
      if (err != 0) return ErrnoStatus("cannot read directory", dir, err);
      return names;
    }
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
}

// rm -rf; an already missing path is success.
Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? OkStatus() : ErrnoStatus("cannot stat", path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus("cannot remove", path, errno);
    return OkStatus();
  }
  StatusOr<std::vector<std::string>> names = ListDir(path);
  if (!names.ok()) {
    return names.status().code() == StatusCode::kNotFound ? OkStatus() : names.status();
  }
  for (const std::string& name : *names) RECA_RETURN_IF_ERROR(RemoveTree(Join(path, name)));
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("cannot remove directory", path, errno);
  }
  return OkStatus();
}

// rename(2) that fails with EEXIST instead of replacing an (empty) directory
// at `to`, where the kernel and file system support it.
int RenameNoReplace(const std::string& from, const std::string& to) {
#ifdef RENAME_NOREPLACE
  const int rc = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (rc == 0 || (errno != EINVAL && errno != ENOSYS)) return rc;
#endif
  struct stat st;
  if (::lstat(to.c_str(), &st) == 0) {
    errno = EEXIST;
    return -1;
  }
  return ::rename(from.c_str(), to.c_str());
}

// Removes work directories of `root` left by dead processes or by this one.
// Best effort: failures are logged.
void SweepWorkDirs(const std::string& root, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    pid_t pid = 0;
    if (!ParseWorkDirName(name, kTmpPrefix, &pid) && !ParseWorkDirName(name, kTrashPrefix, &pid)) {
      continue;
    }
    const bool dead = pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
    if (pid != ::getpid() && !dead) continue;  // a live writer's
    const Status s = RemoveTree(Join(root, name));
    if (!s.ok()) {
      std::cerr << "checkpoint store " << root << ": cannot sweep " << name << ": " << s << "\n";
    }
  }
}

// The committed checkpoints among the entries `names` of `root`, oldest first.
std::vector<CheckpointInfo> ListCommitted(const std::string& root,
                                          const std::vector<std::string>& names) {
  std::vector<std::pair<CheckpointInfo, std::string>> found;
  for (const std::string& name : names) {
    int64_t step = 0;
    if (!ParseStepDirName(name, &step)) continue;
    const std::string dir = Join(root, name);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (::stat(Join(dir, kManifestName).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    CheckpointInfo info;
    info.step = step;
    info.path = dir;
    found.emplace_back(std::move(info), name);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first.step != b.first.step ? a.first.step < b.first.step : a.second < b.second;
  });
  std::vector<CheckpointInfo> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.first));
  return out;
}

// Retention: deletes the committed directory `name` of `root`
// by renaming it to a trash name first, so that a crash half-way never leaves
// a committed-looking directory with missing files. Missing = success.
Status DeleteCheckpoint(const std::string& root, const std::string& name) {
  const std::string dir = Join(root, name);
  const std::string trash = Join(root, kTrashPrefix + name + "-" + std::to_string(::getpid()));
  if (::rename(dir.c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT) return OkStatus();
    return ErrnoStatus("cannot rename " + dir + " to", trash, errno);
  }
  return RemoveTree(trash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

bool ParseStepDirName(const std::string& name, int64_t* step) {
  const size_t n = sizeof(kStepPrefix) - 1;
  return name.compare(0, n, kStepPrefix) == 0 && ParseDigits(name, n, name.size(), step);
}

bool ParseCheckpointPath(const std::string& path, int64_t* step) {
  return ParseStepDirName(BaseName(WithoutTrailingSlashes(path)), step);
}

CheckpointStore::CheckpointStore(std::string root, int64_t epoch)
    : root_(std::move(root)), epoch_(epoch) {}

StatusOr<std::string> CheckpointStore::Commit(int64_t step,
                                              const std::map<std::string, std::string>& files,
                                              int keep) {
  if (step < 0) {
    return InvalidArgumentError("checkpoint step " + std::to_string(step) + " is negative");
  }
  for (const auto& [name, bytes] : files) {
    const std::string why = BadNameReason(name);
    if (!why.empty()) return InvalidArgumentError("checkpoint file name \"" + name + "\" " + why);
  }

  struct stat st;
  if (::stat(root_.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("cannot stat", root_, errno);
    RECA_RETURN_IF_ERROR(MakeDirs(root_));
    RECA_RETURN_IF_ERROR(FsyncDir(DirName(root_)));  // make the new root's entry durable
  }
  RECA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(root_));
  SweepWorkDirs(root_, names);

  const std::string final_name = StepDirName(step);
  const std::string final_dir = Join(root_, final_name);
  const std::vector<CheckpointInfo> existing = ListCommitted(root_, names);
  for (const CheckpointInfo& info : existing) {
    if (info.step == step) {
      return AlreadyExistsError("checkpoint of step " + std::to_string(step) +
                                " already exists: " + info.path);
    }
  }
  if (::lstat(final_dir.c_str(), &st) == 0) {
    return AlreadyExistsError("checkpoint of step " + std::to_string(step) +
                              " already exists: " + final_dir);
  }

  const std::string tmp = Join(root_, kTmpPrefix + final_name + "-" + std::to_string(::getpid()));
  if (::mkdir(tmp.c_str(), 0755) != 0) return ErrnoStatus("cannot create directory", tmp, errno);

  // Everything up to the rename: on failure the temp directory goes away.
  auto write_tmp = [&]() -> Status {
    RECA_RETURN_IF_ERROR(Fault("tmp_dir_created"));
    // Every file is hashed (~1.6 GB/s per core with SHA-NI) and written
    // (write + fsync) on threads of its own, all at once: the commit costs
    // about its largest file, not the sum of hashing and writing everything.
    std::vector<std::future<std::string>> hashes;
    std::vector<std::future<Status>> writes;
    for (const auto& [name, bytes] : files) {
      const std::string* data = &bytes;
      const std::string path = Join(tmp, name);
      hashes.push_back(std::async(std::launch::async, [data] { return Sha256Hex(*data); }));
      writes.push_back(std::async(std::launch::async, [data, path] { return WriteFileDurable(path, *data); }));
    }
    Status status;
    size_t w = 0;
    for (const auto& entry : files) {
      const Status written = writes[w++].get();
      if (status.ok()) status = written;
      if (status.ok()) status = Fault("file_written:" + entry.first);
    }
    std::vector<std::string> sha;
    for (auto& h : hashes) sha.push_back(h.get());
    RECA_RETURN_IF_ERROR(status);
    json entries = json::array();
    size_t i = 0;
    for (const auto& [name, bytes] : files) {
      entries.push_back({{"name", name}, {"size", bytes.size()}, {"sha256", sha[i++]}});
    }
    json manifest = {{"format", kFormat}, {"step", step}, {"files", std::move(entries)}};
    if (epoch_ != 0) manifest["epoch"] = epoch_;
    RECA_RETURN_IF_ERROR(WriteFileDurable(Join(tmp, kManifestName), manifest.dump(2) + "\n"));
    RECA_RETURN_IF_ERROR(Fault("manifest_written"));
    RECA_RETURN_IF_ERROR(FsyncDir(tmp));
    RECA_RETURN_IF_ERROR(Fault("tmp_dir_synced"));
    if (RenameNoReplace(tmp, final_dir) != 0) {
      if (errno == EEXIST || errno == ENOTEMPTY) {
        return AlreadyExistsError("checkpoint of step " + std::to_string(step) +
                                  " already exists: " + final_dir);
      }
      return ErrnoStatus("cannot rename " + tmp + " to", final_dir, errno);
    }
    return OkStatus();
  };
  Status written;
  try {
    written = write_tmp();
  } catch (const std::exception& e) {  // e.g. std::async cannot start a thread
    written = InternalError("checkpoint " + final_dir + ": " + e.what());
  }
  if (!written.ok()) {
    const Status removed = RemoveTree(tmp);
    if (!removed.ok()) std::cerr << "checkpoint store " << root_ << ": " << removed << "\n";
    return written;
  }

  // Committed (visible); from here an error means "maybe not durable".
  RECA_RETURN_IF_ERROR(Fault("renamed"));
  RECA_RETURN_IF_ERROR(FsyncDir(root_));
  RECA_RETURN_IF_ERROR(Fault("root_synced"));

  if (keep > 0) {
    // `existing` plus the new one, oldest first; never delete the new one.
    const size_t total = existing.size() + 1;
    size_t to_delete = total > static_cast<size_t>(keep) ? total - keep : 0;
    for (const CheckpointInfo& info : existing) {
      if (to_delete == 0) break;
      --to_delete;
      const Status s = DeleteCheckpoint(root_, BaseName(info.path));
      if (!s.ok()) {
        std::cerr << "checkpoint store " << root_ << ": retention (keep " << keep
                  << ") cannot delete " << info.path << ": " << s << "\n";
      }
    }
  }
  return final_dir;
}

Status CheckpointStore::Delete(const std::string& dir) {
  const std::string path = WithoutTrailingSlashes(dir);
  return DeleteCheckpoint(DirName(path), BaseName(path));
}

StatusOr<std::vector<CheckpointInfo>> CheckpointStore::List() const {
  StatusOr<std::vector<std::string>> names = ListDir(root_);
  if (!names.ok()) {
    if (names.status().code() == StatusCode::kNotFound) return std::vector<CheckpointInfo>{};
    return names.status();
  }
  return ListCommitted(root_, *names);
}

StatusOr<CheckpointManifest> ParseCheckpointManifest(const std::string& text,
                                                     const std::string& manifest_path) {
  const json manifest = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto malformed = [&](const std::string& why) {
    return DataLossError(manifest_path + ": malformed manifest: " + why);
  };
  if (manifest.is_discarded()) return malformed("not valid JSON");
  if (!manifest.is_object()) return malformed("not a JSON object");
  const auto format = manifest.find("format");
  if (format == manifest.end() || !format->is_string()) return malformed("no \"format\" string");
  if (format->get<std::string>() != kFormat) {
    return malformed("format \"" + format->get<std::string>() + "\" is not \"" + kFormat + "\"");
  }
  const auto step = manifest.find("step");
  if (step == manifest.end() || !step->is_number_integer()) return malformed("no integer \"step\"");
  const auto entries = manifest.find("files");
  if (entries == manifest.end() || !entries->is_array()) return malformed("no \"files\" array");

  if (step->is_number_unsigned() ? step->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                                 : step->get<int64_t>() < 0) {
    return malformed("\"step\" out of range");
  }
  CheckpointManifest out;
  out.step = step->get<int64_t>();
  if (const auto epoch = manifest.find("epoch"); epoch != manifest.end()) {
    if (!epoch->is_number_unsigned() || epoch->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return malformed("\"epoch\" is not a non-negative integer");
    out.epoch = epoch->get<int64_t>();
  }
  std::set<std::string> seen;
  for (const json& entry : *entries) {
    if (!entry.is_object()) return malformed("a \"files\" entry is not an object");
    const auto name = entry.find("name");
    const auto size = entry.find("size");
    const auto sha = entry.find("sha256");
    if (name == entry.end() || !name->is_string())
      return malformed("a \"files\" entry has no \"name\" string");
    const std::string file = name->get<std::string>();
    if (!BadNameReason(file).empty()) return malformed("bad file name \"" + file + "\"");
    if (!seen.insert(file).second) return malformed("file \"" + file + "\" listed twice");
    if (size == entry.end() || !size->is_number_unsigned())
      return malformed("file \"" + file + "\" has no unsigned \"size\"");
    if (sha == entry.end() || !sha->is_string() || !IsHex64(sha->get<std::string>())) {
      return malformed("file \"" + file + "\" has no 64-hex-digit \"sha256\"");
    }
    out.files.push_back({file, size->get<uint64_t>(), sha->get<std::string>()});
  }
  return out;
}

StatusOr<std::map<std::string, std::string>> CheckpointStore::LoadVerified(const std::string& dir) {
  const std::string manifest_path = Join(dir, kManifestName);
  StatusOr<std::string> text = ReadFile(manifest_path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return DataLossError(dir + ": no MANIFEST.json (not a committed checkpoint)");
    }
    return text.status();
  }
  RECA_ASSIGN_OR_RETURN(const CheckpointManifest manifest, ParseCheckpointManifest(*text, manifest_path));
  std::map<std::string, std::string> out;
  for (const CheckpointManifest::File& entry : manifest.files) {
    const std::string& file = entry.name;
    const std::string path = Join(dir, file);
    StatusOr<std::string> bytes = ReadFile(path);
    if (!bytes.ok()) {
      if (bytes.status().code() == StatusCode::kNotFound) {
        return DataLossError(path + ": missing (listed in the manifest)");
      }
      return bytes.status();
    }
    const uint64_t want_size = entry.size;
    if (bytes->size() != want_size) {
      return DataLossError(path + ": size " + std::to_string(bytes->size()) + " != manifest " +
                           std::to_string(want_size));
    }
    const std::string& want_sha = entry.sha256;
    const std::string got_sha = Sha256Hex(*bytes);
    if (got_sha != want_sha) {
      return DataLossError(path + ": SHA-256 mismatch (manifest " + want_sha + ", file " + got_sha +
                           ")");
    }
    out.emplace(file, std::move(*bytes));
  }
  return out;
}

}  // namespace reca
