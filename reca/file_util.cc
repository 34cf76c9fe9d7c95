#include "reca/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace reca {
namespace {

// Writes all of `data` to `fd` (EINTR, short writes), fsyncs and closes it;
// `fd` is closed on every path.
Status WriteSyncClose(int fd, const std::string& data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoStatus("cannot write", path, err);
    }
    off += static_cast<size_t>(n);
  }
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    return ErrnoStatus("cannot fsync", path, err);
  }
  // No retry of close on EINTR (Linux releases the descriptor regardless).
  if (::close(fd) != 0 && errno != EINTR) return ErrnoStatus("cannot close", path, errno);
  return OkStatus();
}

}  // namespace

std::string DirName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string ManifestFolder(const std::string& manifest) {
  return manifest.find('/') == std::string::npos ? "" : DirName(manifest);
}

std::string ResolveInFolder(const std::string& folder, const std::string& path) {
  if (path.empty() || path[0] == '/' || folder.empty()) return path;
  return folder == "/" ? "/" + path : folder + "/" + path;
}

bool IsBlankOrCommentLine(const std::string& line) {
  const size_t i = line.find_first_not_of(" \t\r");
  return i == std::string::npos || line[i] == '#';
}

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  const std::string msg = what + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return ResourceExhaustedError(msg);
    default:
      return InternalError(msg);
  }
}

Status WriteFileAtomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", tmp, errno);
  if (Status s = WriteSyncClose(fd, data, tmp); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus("cannot rename onto", path, errno);
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(DirName(path));
}

Status WriteFileDurable(const std::string& path, const std::string& data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", path, errno);
  return WriteSyncClose(fd, data, path);
}

Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir, errno);
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir, err);
  return OkStatus();
}

StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InternalError(path + ": not a regular file");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t off = 0;
  for (;;) {
    if (off == out.size()) out.resize(out.size() + 4096);  // grew since fstat
    const ssize_t n = ::read(fd, &out[off], out.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoStatus("cannot read", path, err);
    }
    if (n == 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(off);
  return out;
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return OkStatus();
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  if (path[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part + "/";
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create directory", cur, errno);
    }
  }
  return OkStatus();
}

std::string ListedFileProblem(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::string("cannot be found: ") + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  return "";
}

}  // namespace reca
