// Launching and supervising child processes (the worker daemon runs one
// `reca-train` per rank), behind an interface so that supervision logic is
// unit-tested with FakeProcessLauncher (STYLE.md §5).
#ifndef RECA_COMMON_PROCESS_H_
#define RECA_COMMON_PROCESS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace reca {

struct ProcessSpec {
  std::vector<std::string> argv;            // argv[0] is the program (a path, or looked up in PATH)
  std::map<std::string, std::string> env;   // added to (and overriding) the parent's environment
  std::string log_path;                     // stdout + stderr, appended; empty = inherit
  std::string working_dir;                  // empty = the parent's
  // SIGKILL it when the thread that launched it dies (Linux PR_SET_PDEATHSIG):
  // a crashed worker daemon leaves no rank running unsupervised.
  bool die_with_parent = false;
};

// The exit status with which reca-train says that the checkpoint it was told
// to resume from (--resume_from) is missing or fails verification: not the
// job's fault; the coordinator falls back to an earlier checkpoint.
inline constexpr int kExitResumeCheckpointUnusable = 3;

// How a process ended, classified for the coordinator's restart policy.
struct ExitInfo {
  // kInvalidJob: the program said its input is at fault (its error line's
  // code is INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION), so running it
  // again cannot help. kCheckpointUnreadable: it exited
  // kExitResumeCheckpointUnusable.
  enum class Cause { kSuccess, kError, kSignal, kOutOfMemory, kInvalidJob, kCheckpointUnreadable };
  Cause cause = Cause::kSuccess;
  int exit_code = 0;  // kError, kInvalidJob, kOutOfMemory (when it exited)
  int signal = 0;     // kSignal, kOutOfMemory (when killed)
  // The process's own last error line when its log has one (our programs
  // print "reca-train: CODE: message", "reca-eval: CODE: message"), else a
  // description of the exit.
  std::string message;
};

std::string CauseName(ExitInfo::Cause cause);

class Process {
 public:
  virtual ~Process() = default;
  virtual int pid() const = 0;
  // The exit, once the process has ended (without blocking).
  virtual std::optional<ExitInfo> Poll() = 0;
  // Sends `sig` to the process's whole process group (its children too).
  virtual void Signal(int sig) = 0;
  // SIGTERM, then SIGKILL if it has not ended after `grace`; returns its exit.
  virtual ExitInfo Stop(absl::Duration grace) = 0;
  // Blocks until it ends.
  virtual ExitInfo Wait() = 0;
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // A program that cannot be executed (missing, not executable) is an error
  // naming it, not a process that exits 127.
  virtual absl::StatusOr<std::unique_ptr<Process>> Launch(const ProcessSpec& spec) = 0;
};

// fork + exec in a new process group.
class PosixProcessLauncher : public ProcessLauncher {
 public:
  absl::StatusOr<std::unique_ptr<Process>> Launch(const ProcessSpec& spec) override;
};

// Classifies a waitpid() status; `log_tail` is the end of the process's log.
ExitInfo ClassifyExit(int wait_status, const std::string& log_tail);

}  // namespace reca

#endif  // RECA_COMMON_PROCESS_H_
