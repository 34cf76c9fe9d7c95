#include "common/process.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reca {
namespace {

using ::testing::HasSubstr;

std::string Log(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(t ? t : "/tmp") + "/process_" + name + ".log";
  std::remove(path.c_str());
  return path;
}

ExitInfo RunShell(const std::string& script, const std::string& log = "",
                  std::map<std::string, std::string> env = {}) {
  PosixProcessLauncher launcher;
  auto p = launcher.Launch({{"/bin/sh", "-c", script}, std::move(env), log, ""});
  EXPECT_TRUE(p.ok()) << p.status();
  return (*p)->Wait();
}

TEST(ProcessTest, SuccessAndEnvironment) {
  ExitInfo e = RunShell("test \"$RANK\" = 1 && test -n \"$PATH\"", "", {{"RANK", "1"}});
  EXPECT_EQ(e.cause, ExitInfo::Cause::kSuccess) << e.message;
}

TEST(ProcessTest, ErrorCarriesTheTrainersOwnMessage) {
  const std::string log = Log("error");
  ExitInfo e = RunShell(
      "echo 'step 1/10 | loss 0.5'; echo 'reca-train: INVALID_ARGUMENT: spec.steps: must be >= 1' >&2; exit 2", log);
  EXPECT_EQ(e.cause, ExitInfo::Cause::kInvalidJob);  // the job's own fault: no retry helps
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_EQ(e.message, "reca-train: INVALID_ARGUMENT: spec.steps: must be >= 1");
  std::ifstream in(log);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "step 1/10 | loss 0.5");  // stdout and stderr both land in the log

  // Any of our tools' error lines, even with other lines after it.
  e = RunShell("echo 'reca-eval: NOT_FOUND: /ck/30: no such checkpoint'; echo 'bye'; exit 1",
               Log("error-eval"));
  EXPECT_EQ(e.message, "reca-eval: NOT_FOUND: /ck/30: no such checkpoint");
  EXPECT_EQ(e.cause, ExitInfo::Cause::kInvalidJob);

  // Anything else (a peer gone mid all-reduce, a crash) is an error a retry may fix.
  e = RunShell("echo 'reca-train: INTERNAL: Gloo: connection closed by peer' >&2; exit 2", Log("error-gloo"));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kError);
  // Only the line's own code counts, not one quoted in its message.
  e = RunShell("echo 'reca-train: DATA_LOSS: shard.tar: NOT_FOUND: gone' >&2; exit 2", Log("error-quoted"));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kError);
  e = RunShell("echo 'Traceback: INVALID_ARGUMENT somewhere'; exit 1", Log("error-other"));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kError);
}

TEST(ProcessTest, AnUnusableResumeCheckpointIsItsOwnCause) {
  ExitInfo e = RunShell(
      "echo 'reca-train: DATA_LOSS: --resume_from: /ck/step-00000044: NOT_FOUND: MANIFEST.json' >&2; exit 3",
      Log("resume"));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kCheckpointUnreadable);
  EXPECT_EQ(e.exit_code, kExitResumeCheckpointUnusable);
  EXPECT_EQ(CauseName(e.cause), "checkpoint_unreadable");
}

TEST(ProcessTest, OutOfMemoryIsItsOwnCause) {
  ExitInfo e = RunShell("echo 'reca-train: RESOURCE_EXHAUSTED: CUDA out of memory' >&2; exit 2", Log("oom"));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kOutOfMemory);
  e = RunShell("kill -KILL $$");
  EXPECT_EQ(e.cause, ExitInfo::Cause::kOutOfMemory);  // an unrequested SIGKILL
  EXPECT_THAT(e.message, HasSubstr("killed by SIGKILL"));
}

TEST(ProcessTest, SignalsAreNamed) {
  ExitInfo e = RunShell("kill -SEGV $$");
  EXPECT_EQ(e.cause, ExitInfo::Cause::kSignal);
  EXPECT_EQ(e.signal, SIGSEGV);
  EXPECT_THAT(e.message, HasSubstr("killed by SIGSEGV"));
}

TEST(ProcessTest, StopTermsTheGroupThenKills) {
  PosixProcessLauncher launcher;
  // A child of the child must go too: signals go to the process group.
  auto p = launcher.Launch({{"/bin/sh", "-c", "sleep 60 & wait"}, {}, "", ""});
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE((*p)->Poll().has_value());
  const auto t0 = std::chrono::steady_clock::now();
  ExitInfo e = (*p)->Stop(absl::Seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kSignal);
  EXPECT_EQ(e.signal, SIGTERM);

  const std::string log = Log("stubborn");
  auto stubborn =
      launcher.Launch({{"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 60 & wait; sleep 60"}, {}, log, ""});
  ASSERT_TRUE(stubborn.ok());
  for (int i = 0; i < 500; ++i) {  // until the trap is set (at most 5 s)
    std::ifstream in(log);
    std::string line;
    if (std::getline(in, line) && line == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  e = (*stubborn)->Stop(absl::Milliseconds(300));
  EXPECT_EQ(e.cause, ExitInfo::Cause::kSignal);  // our SIGKILL, not the OOM killer's
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_THAT(e.message, HasSubstr("grace period"));
}

TEST(ProcessTest, UnexecutableProgramIsALaunchError) {
  PosixProcessLauncher launcher;
  auto p = launcher.Launch({{"/nonexistent/reca-train", "--steps=1"}, {}, "", ""});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.status().message(), "launch: cannot execute /nonexistent/reca-train: No such file or directory");
  auto bad_log = launcher.Launch({{"/bin/true"}, {}, "/nonexistent/dir/x.log", ""});
  ASSERT_FALSE(bad_log.ok());
  EXPECT_THAT(std::string(bad_log.status().message()), HasSubstr("/nonexistent/dir/x.log"));
}

TEST(ProcessTest, DiesWithTheThreadThatLaunchedIt) {
  // What a crashed worker daemon's ranks do: the kernel kills them.
  PosixProcessLauncher launcher;
  std::unique_ptr<Process> orphan, kept;
  std::thread launching([&] {
    ProcessSpec spec{{"/bin/sleep", "30"}, {}, "", ""};
    spec.die_with_parent = true;
    orphan = launcher.Launch(spec).value();
    kept = launcher.Launch({{"/bin/sleep", "30"}, {}, "", ""}).value();
  });
  launching.join();
  const auto start = std::chrono::steady_clock::now();
  ExitInfo exit = orphan->Wait();
  EXPECT_EQ(exit.signal, SIGKILL);  // (classified as out-of-memory, as any SIGKILL nobody here sent)
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(kept->Poll().has_value());  // without the option it lives on
  kept->Stop(absl::Seconds(1));
}

}  // namespace
}  // namespace reca
