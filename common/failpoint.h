// Failpoints: named sites in the services where a test makes the process fail
// as a crash or an I/O error would, to prove recovery from exactly there.
// Off unless configured, and then only by a test: the environment variable
// RECA_FAILPOINTS (inherited by child processes) or a daemon's --failpoints
// flag, both "site=action[@N],..." where action is
//   crash  exit at once (_exit(kFailpointExitCode), no destructors or
//          flushes: the same as kill -9 from outside)
//   error  the site's call fails with UNAVAILABLE
// and @N fires only on the N-th pass through the site (default: every pass).
//
// Sites (grep RECA_FAILPOINT):
//   coordinator.before_state_write, coordinator.after_state_write  (every
//     job state transition: one synced write batch)
//   coordinator.before_manifest_record, coordinator.after_manifest_record
//   coordinator.mid_heartbeat       (progress taken, response not yet built)
//   worker.mid_heartbeat            (response received, not yet acted on)
// The trainer (reca/, LibTorch only) has its own: CheckpointStore's fault
// hook at every step of a commit (before and after the rename), and a rank
// SIGKILLed or SIGSTOPped mid all-reduce in tests/service/fault_test.py.
//
// Thread-safe.
#ifndef RECA_COMMON_FAILPOINT_H_
#define RECA_COMMON_FAILPOINT_H_

#include <string>

#include "absl/status/status.h"

namespace reca {

inline constexpr int kFailpointExitCode = 86;

// Replaces the configuration with `spec` ("" = all off). INVALID_ARGUMENT
// naming the bad entry. Called by daemons for --failpoints and by tests.
absl::Status SetFailpoints(const std::string& spec);

// OK unless `site` is configured and fires now: then UNAVAILABLE
// ("failpoint <site>") for `error`, or the process ends for `crash`. The
// first call reads RECA_FAILPOINTS unless SetFailpoints was called.
absl::Status Failpoint(const char* site);

// How many times `site` was passed since the configuration was last set
// (crash-point sweeps count the sites a clean run passes).
int FailpointHits(const std::string& site);

}  // namespace reca

#define RECA_FAILPOINT(site)                                        \
  do {                                                              \
    if (::absl::Status _fp = ::reca::Failpoint(site); !_fp.ok()) {  \
      return _fp;                                                   \
    }                                                               \
  } while (0)

#endif  // RECA_COMMON_FAILPOINT_H_
