// Durable file writes and whole-file reads (POSIX).
#ifndef RECA_FILE_UTIL_H_
#define RECA_FILE_UTIL_H_

#include <string>

#include "reca/status.h"

namespace reca {

// Writes `data` to `path` crash-safely: a temp file in the same directory,
// fsync, rename over `path`, then fsync of the directory. On any failure the
// previous content of `path` is untouched and the temp file removed.
Status WriteFileAtomic(const std::string& path, const std::string& data);

StatusOr<std::string> ReadFile(const std::string& path);

// mkdir -p.
Status MakeDirs(const std::string& path);

}  // namespace reca

#endif  // RECA_FILE_UTIL_H_
