// What the daemons' main()s share (reca-worker, reca-evaluator): strict
// --name=value flag parsing over a fixed list of Abseil flags (a usage error
// exits 2 naming the flag, where absl::ParseCommandLine would exit 1), the
// host name and the path of a binary installed next to this one.
#ifndef RECA_COMMON_DAEMON_MAIN_H_
#define RECA_COMMON_DAEMON_MAIN_H_

#include <string>
#include <vector>

namespace reca {

// Parses argv against `flags` (names of ABSL_FLAGs). --help prints the usage
// of `program` and exits 0. False with `error` set on a usage error.
bool ParseDaemonFlags(int argc, char** argv, const std::string& program,
                      const std::vector<std::string>& flags,
                      std::string* error);

// This machine's host name; "" when unknown.
std::string HostName();

// `name` in the directory of the running binary (e.g. build/bin/reca-train).
std::string SiblingBinary(const std::string& name);

}  // namespace reca

#endif  // RECA_COMMON_DAEMON_MAIN_H_
