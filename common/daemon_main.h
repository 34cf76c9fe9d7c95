// What the daemons share (reca-worker, reca-evaluator): strict --name=value
// flag parsing over a fixed list of Abseil flags (a usage error exits 2
// naming the flag, where absl::ParseCommandLine would exit 1), flag checks,
// the host name, the path of a binary installed next to this one, stop
// signals, timestamped log lines and the agents' tick loop.
#ifndef RECA_COMMON_DAEMON_MAIN_H_
#define RECA_COMMON_DAEMON_MAIN_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

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

// False with `error` "--<flag>: '<value>' is not host:port" unless `value`
// is host:port with a port in [1, 65535].
bool CheckHostPort(const std::string& flag, const std::string& value,
                   std::string* error);

// SIGTERM and SIGINT set the returned flag (SIGPIPE is ignored).
const std::atomic<bool>& InstallStopSignals();

// One line on stderr, prefixed with the local time to the millisecond.
void LogLine(const std::string& line);

// Calls `tick`, then sleeps `next_delay()` in slices of at most 100 ms (so
// that a stop request is seen promptly), until `stop` is set.
void TickUntilStopped(const std::atomic<bool>& stop,
                      const std::function<void()>& tick,
                      const std::function<absl::Duration()>& next_delay,
                      const std::function<void(absl::Duration)>& sleep);

}  // namespace reca

#endif  // RECA_COMMON_DAEMON_MAIN_H_
