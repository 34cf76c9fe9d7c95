// Test doubles for ProcessLauncher (STYLE.md §11): processes whose exits
// and signals the test decides and inspects, for supervision logic tested
// without forking (the worker agent's tests).
#ifndef RECA_COMMON_FAKE_PROCESS_H_
#define RECA_COMMON_FAKE_PROCESS_H_

#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/process.h"

namespace reca {

// What a FakeProcess shares with the test after the agent has dropped it.
struct FakeProcessState {
  int pid = 0;
  ProcessSpec spec;
  std::vector<int> signals;      // in the order sent
  std::optional<ExitInfo> exit;  // set by the test (or by exit_on_sigterm)
  std::optional<ExitInfo>
      exit_on_sigterm;  // becomes `exit` when SIGTERM arrives
  bool destroyed = false;

  void ExitWith(int code, std::string message = "") {
    ExitInfo e;
    e.cause = code == 0 ? ExitInfo::Cause::kSuccess : ExitInfo::Cause::kError;
    e.exit_code = code;
    e.message = message.empty() ? absl::StrCat("exited ", code) : message;
    exit = e;
  }
  void KilledBy(int sig, ExitInfo::Cause cause = ExitInfo::Cause::kSignal) {
    ExitInfo e;
    e.cause = cause;
    e.signal = sig;
    e.message = absl::StrCat("killed by signal ", sig);
    exit = e;
  }
};

class FakeProcess : public Process {
 public:
  explicit FakeProcess(std::shared_ptr<FakeProcessState> state)
      : state_(std::move(state)) {}
  ~FakeProcess() override { state_->destroyed = true; }
  int pid() const override { return state_->pid; }
  std::optional<ExitInfo> Poll() override { return state_->exit; }
  void Signal(int sig) override {
    state_->signals.push_back(sig);
    if (sig == SIGTERM && state_->exit_on_sigterm && !state_->exit)
      state_->exit = state_->exit_on_sigterm;
  }
  ExitInfo Stop(absl::Duration grace) override {
    Signal(SIGTERM);
    if (!state_->exit)
      Signal(SIGKILL), state_->exit = ExitInfo{ExitInfo::Cause::kSignal, 0,
                                               SIGKILL, "killed"};
    return *state_->exit;
  }
  ExitInfo Wait() override { return Stop(absl::ZeroDuration()); }

 private:
  std::shared_ptr<FakeProcessState> state_;
};

// Launches FakeProcesses (pids 1000, 1001, ...); `fail_next` makes the next
// Launch return that error instead.
class FakeProcessLauncher : public ProcessLauncher {
 public:
  std::vector<std::shared_ptr<FakeProcessState>> processes;  // in launch order
  std::optional<absl::Status> fail_next;
  int launch_calls = 0;

  absl::StatusOr<std::unique_ptr<Process>> Launch(
      const ProcessSpec& spec) override {
    ++launch_calls;
    if (fail_next) {
      absl::Status s = *fail_next;
      fail_next.reset();
      return s;
    }
    auto state = std::make_shared<FakeProcessState>();
    state->pid = 1000 + static_cast<int>(processes.size());
    state->spec = spec;
    processes.push_back(state);
    return std::unique_ptr<Process>(new FakeProcess(state));
  }
};

}  // namespace reca

#endif  // RECA_COMMON_FAKE_PROCESS_H_
