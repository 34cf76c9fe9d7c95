#include "common/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"

extern char** environ;

namespace reca {
namespace {

// The final 16 KiB of `path`.
std::string LogTail(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > 16384 ? size - 16384 : 0;
  in.seekg(start);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return tail;
}

// Whether `line` is one of our programs' error lines: "reca-<tool>: CODE: ...".
bool IsErrorLine(const std::string& line) {
  if (line.compare(0, 5, "reca-") != 0) return false;
  const size_t colon = line.find(": ");
  if (colon == std::string::npos || colon == 5) return false;
  for (size_t i = 5; i < colon; ++i) {
    if (line[i] < 'a' || line[i] > 'z') return false;  // reca-train, reca-eval, ...
  }
  return line.find(": ", colon + 2) != std::string::npos;
}

// The status code of one of our programs' error lines ("reca-train: DATA_LOSS:
// ..." -> "DATA_LOSS"), or "" for any other line.
std::string ErrorLineCode(const std::string& line) {
  if (!IsErrorLine(line)) return "";
  const size_t start = line.find(": ") + 2;
  const size_t end = line.find(": ", start);
  const std::string code = line.substr(start, end - start);
  for (char c : code) {
    if ((c < 'A' || c > 'Z') && c != '_') return "";
  }
  return code;
}

// The last error line of `tail`, or else its last non-empty line.
std::string LastErrorLine(const std::string& tail) {
  std::istringstream lines(tail);
  std::string line, last_error, last;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    last = line;
    if (IsErrorLine(line)) last_error = line;
  }
  return last_error.empty() ? last : last_error;
}

class PosixProcess : public Process {
 public:
  PosixProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  ~PosixProcess() override {
    if (!exit_) Stop(absl::Seconds(2));
  }
  int pid() const override { return pid_; }

  std::optional<ExitInfo> Poll() override {
    if (exit_) return exit_;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) exit_ = Classify(status);
    return exit_;
  }
  void Signal(int sig) override {
    if (!exit_) ::kill(-pid_, sig);  // the process group: trainer ranks and anything they spawned
  }
  ExitInfo Stop(absl::Duration grace) override {
    Signal(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(grace);
    while (!Poll() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exit_) {
      killed_ = true;
      Signal(SIGKILL);
    }
    return Wait();
  }
  ExitInfo Wait() override {
    while (!exit_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, 0);
      if (r == pid_) {
        exit_ = Classify(status);
      } else if (r < 0 && errno != EINTR) {
        exit_ = ExitInfo{ExitInfo::Cause::kError, -1, 0, std::string("waitpid: ") + std::strerror(errno)};
      }
    }
    return *exit_;
  }

 private:
  pid_t pid_;
  std::string log_path_;
  std::optional<ExitInfo> exit_;
  bool killed_ = false;  // we sent SIGKILL (Stop), so it was not the OOM killer

  ExitInfo Classify(int status) const {
    ExitInfo e = ClassifyExit(status, LogTail(log_path_));
    if (killed_ && e.signal == SIGKILL) {
      e.cause = ExitInfo::Cause::kSignal;
      e.message = "killed by SIGKILL (stopped: it outlived the grace period after SIGTERM)";
    }
    return e;
  }
};

}  // namespace

std::string CauseName(ExitInfo::Cause cause) {
  switch (cause) {
    case ExitInfo::Cause::kSuccess: return "success";
    case ExitInfo::Cause::kError: return "error";
    case ExitInfo::Cause::kSignal: return "signal";
    case ExitInfo::Cause::kOutOfMemory: return "out_of_memory";
    case ExitInfo::Cause::kInvalidJob: return "invalid_job";
    case ExitInfo::Cause::kCheckpointUnreadable: return "checkpoint_unreadable";
  }
  return "unknown";
}

ExitInfo ClassifyExit(int wait_status, const std::string& log_tail) {
  ExitInfo e;
  const std::string line = LastErrorLine(log_tail);
  if (WIFEXITED(wait_status)) {
    e.exit_code = WEXITSTATUS(wait_status);
    if (e.exit_code == 0) {
      e.cause = ExitInfo::Cause::kSuccess;
      e.message = "exited 0";
      return e;
    }
    // reca-train maps out-of-memory (CUDA or host) to RESOURCE_EXHAUSTED,
    // and faults of the job itself (spec, data, model, a non-finite loss) to
    // these three codes. Only the error line's own code counts: a DATA_LOSS
    // whose message quotes a NOT_FOUND is not the job's fault.
    const std::string code = ErrorLineCode(line);
    e.cause = e.exit_code == kExitResumeCheckpointUnusable
                  ? ExitInfo::Cause::kCheckpointUnreadable
              : code == "RESOURCE_EXHAUSTED" ? ExitInfo::Cause::kOutOfMemory
              : code == "INVALID_ARGUMENT" || code == "NOT_FOUND" || code == "FAILED_PRECONDITION"
                  ? ExitInfo::Cause::kInvalidJob
                  : ExitInfo::Cause::kError;
    e.message = line.empty() ? "exited " + std::to_string(e.exit_code) : line;
    return e;
  }
  if (WIFSIGNALED(wait_status)) {
    e.signal = WTERMSIG(wait_status);
    const char* name = ::sigabbrev_np(e.signal);
    e.message = std::string("killed by SIG") + (name ? name : std::to_string(e.signal));
    // An unrequested SIGKILL is what the kernel's OOM killer sends.
    if (e.signal == SIGKILL) {
      e.cause = ExitInfo::Cause::kOutOfMemory;
      e.message += " (the kernel's OOM killer, if nobody else sent it)";
    } else {
      e.cause = ExitInfo::Cause::kSignal;
    }
    if (!line.empty()) e.message += "; last log line: " + line;
    return e;
  }
  e.cause = ExitInfo::Cause::kError;
  e.message = "unknown wait status " + std::to_string(wait_status);
  return e;
}

absl::StatusOr<std::unique_ptr<Process>> PosixProcessLauncher::Launch(const ProcessSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("launch: empty argv");
  int log_fd = -1;
  if (!spec.log_path.empty()) {
    log_fd = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return absl::UnavailableError("launch: cannot open log " + spec.log_path + ": " + std::strerror(errno));
    }
  }
  // exec failures come back through a close-on-exec pipe: EOF = exec'd.
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    if (log_fd >= 0) ::close(log_fd);
    return absl::UnavailableError(std::string("launch: pipe: ") + std::strerror(errno));
  }
  // Everything the child needs, prepared before fork (no allocation after).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (!spec.env.count(key)) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(err_pipe[0]), ::close(err_pipe[1]);
    if (log_fd >= 0) ::close(log_fd);
    return absl::UnavailableError(std::string("launch: fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    if (spec.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    }
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    int code = 0;
    if (!spec.working_dir.empty() && ::chdir(spec.working_dir.c_str()) != 0) {
      code = errno;
    } else {
      ::execvpe(argv[0], argv.data(), envp.data());
      code = errno;
    }
    ssize_t ignored = ::write(err_pipe[1], &code, sizeof(code));
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with an early Signal()
  ::close(err_pipe[1]);
  if (log_fd >= 0) ::close(log_fd);
  int code = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &code, sizeof(code));
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == sizeof(code)) {
    int status;
    ::waitpid(pid, &status, 0);
    return absl::FailedPreconditionError("launch: cannot execute " + spec.argv[0] +
                                         (spec.working_dir.empty() ? "" : " in " + spec.working_dir) + ": " +
                                         std::strerror(code));
  }
  return std::unique_ptr<Process>(new PosixProcess(pid, spec.log_path));
}

}  // namespace reca
