// Durable file writes and whole-file reads (POSIX), shared by everything
// that must survive a crash (weights, checkpoints, metrics files).
#ifndef RECA_FILE_UTIL_H_
#define RECA_FILE_UTIL_H_

#include <string>

#include "reca/status.h"

namespace reca {

// "<what> <path>: <strerror(err)>" with a code from errno: ENOENT is
// NotFound, ENOSPC/EDQUOT ResourceExhausted, anything else Internal.
Status ErrnoStatus(const std::string& what, const std::string& path, int err);

// Writes `data` to `path` crash-safely: a temp file in the same directory,
// fsync, rename over `path`, then fsync of the directory. On any failure the
// previous content of `path` is untouched and the temp file removed.
Status WriteFileAtomic(const std::string& path, const std::string& data);

// Creates `path` (it must not exist), writes `data` and fsyncs it; the
// caller makes the directory entry durable (FsyncDir) when it needs to.
Status WriteFileDurable(const std::string& path, const std::string& data);

// fsync of a directory: makes the creations, renames and deletions in it durable.
Status FsyncDir(const std::string& dir);

// The whole regular file at `path` (a directory or device is an error).
StatusOr<std::string> ReadFile(const std::string& path);

// The directory part of `path` ("." when there is none; trailing slashes ignored).
std::string DirName(std::string path);

// mkdir -p.
Status MakeDirs(const std::string& path);

// Where a manifest's relative paths resolve: the folder of `manifest` ("" for
// a bare file name: its paths stay as written).
std::string ManifestFolder(const std::string& manifest);
// `path` inside `folder` (ManifestFolder's); an absolute path stays as is.
std::string ResolveInFolder(const std::string& folder, const std::string& path);
// Why a manifest's listed `path` cannot be read as a file ("cannot be found:
// No such file or directory", "is not a regular file"); empty when it can.
std::string ListedFileProblem(const std::string& path);
// A JSONL line to skip: blank, or a comment starting with '#'.
bool IsBlankOrCommentLine(const std::string& line);

}  // namespace reca

#endif  // RECA_FILE_UTIL_H_
