#include "evaluator/evaluator_agent.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/fake_process.h"
#include "common/process.h"
#include "evaluator/evaluator_test_fakes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reca/v1/evaluator_service.pb.h"

namespace reca {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << text;
}

// What reca-eval writes for both suites.
std::string ScoresJson(const std::string& checkpoint) {
  return R"({"checkpoint": ")" + checkpoint + R"(", "step": 40, "suites": {
    "shapes_eval": {"overall": 0.5, "tags": {"single_object": 0.9,
      "two_object": 0.6, "counting": 0.4, "colors": 0.7, "position": 0.2,
      "color_attr": 0.2}, "prompts": 48, "images": 96, "seconds": 12.5},
    "recon": {"psnr": 24.5, "ssim": 0.81, "heldout_loss": 0.031,
      "images": 16, "seconds": 1.5}}})";
}

class EvaluatorAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::TempDir() + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
    options_.evaluator_id = "e1";
    options_.eval_binary = "/opt/reca/bin/reca-eval";
    options_.threads = 3;
    options_.poll_interval = absl::Seconds(1);
    options_.stop_grace = absl::Seconds(10);
  }

  EvaluatorAgent& agent() {
    if (!agent_) {
      EvaluatorAgent::Deps deps{
          client_, launcher_, clock_,
          [this](absl::Duration d) { clock_.AdvanceTime(d); },
          [this](const std::string& line) { logs_.push_back(line); }};
      agent_ = std::make_unique<EvaluatorAgent>(std::move(deps), options_);
    }
    return *agent_;
  }

  v1::EvalTask MakeTask(int64_t step) {
    v1::EvalTask t;
    t.set_claim_id("claim-" + std::to_string(step));
    t.set_job_id("job-7");
    t.set_step(step);
    t.set_checkpoint_path("/ckpt/job-7/step-" + std::to_string(step));
    t.add_suites("shapes_eval");
    t.add_suites("recon");
    t.set_output_dir(root_ + "/eval/step-" + std::to_string(step));
    return t;
  }

  // Claims `task` and launches its reca-eval in one tick; returns the process.
  std::shared_ptr<FakeProcessState> Start(const v1::EvalTask& task) {
    client_.Offer(task);
    const size_t before = launcher_.processes.size();
    agent().Tick();
    EXPECT_EQ(launcher_.processes.size(), before + 1);
    EXPECT_TRUE(agent().busy());
    return launcher_.processes.back();
  }

  bool Logged(const std::string& text) const {
    for (const auto& l : logs_) {
      if (absl::StrContains(l, text)) return true;
    }
    return false;
  }

  std::string root_;
  EvaluatorOptions options_;
  FakeEvaluatorClient client_;
  FakeProcessLauncher launcher_;
  FakeClock clock_;
  std::vector<std::string> logs_;
  std::unique_ptr<EvaluatorAgent> agent_;
};

TEST_F(EvaluatorAgentTest, ClaimsAndLaunchesRecaEvalWithTheTaskCommandLine) {
  options_.images_per_prompt = 4;
  const v1::EvalTask task = MakeTask(40);
  // A scores.json from an earlier attempt must never be read as this one's.
  WriteText(task.output_dir() + "/scores.json", "{}");
  auto p = Start(task);
  ASSERT_EQ(client_.claims.size(), 1u);
  EXPECT_EQ(client_.claims[0].evaluator_id(), "e1");
  EXPECT_THAT(
      p->spec.argv,
      ElementsAre("/opt/reca/bin/reca-eval", "--checkpoint=/ckpt/job-7/step-40",
                  "--suites=shapes_eval,recon", "--out=" + task.output_dir(),
                  "--report_dir=" + root_ + "/eval", "--threads=3",
                  "--images_per_prompt=4"));
  EXPECT_EQ(p->spec.log_path, task.output_dir() + "/reca-eval.log");
  EXPECT_EQ(p->spec.env.at("OPENBLAS_NUM_THREADS"), "3");
  EXPECT_EQ(p->spec.env.at("OMP_NUM_THREADS"), "3");
  EXPECT_TRUE(p->spec.die_with_parent);
  EXPECT_TRUE(fs::is_directory(task.output_dir()));
  EXPECT_FALSE(fs::exists(task.output_dir() + "/scores.json"));
  EXPECT_TRUE(Logged("evaluator e1: job job-7 step 40: claimed (claim-40"));

  // While it runs, nothing else is claimed.
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  EXPECT_EQ(client_.claims.size(), 1u);
  EXPECT_EQ(launcher_.launch_calls, 1);
}

TEST_F(EvaluatorAgentTest, PassesOptionalFlagsOnlyWhenSet) {
  options_.prompts_per_tag = 8;
  options_.edit_pairs_per_category = 3;
  auto p = Start(MakeTask(0));
  EXPECT_THAT(p->spec.argv, ::testing::Contains("--prompts_per_tag=8"));
  EXPECT_THAT(p->spec.argv, ::testing::Contains("--edit_pairs_per_category=3"));
  for (const std::string& arg : p->spec.argv)
    EXPECT_FALSE(absl::StartsWith(arg, "--images_per_prompt")) << arg;
}

TEST_F(EvaluatorAgentTest, PassesGenEvalRuleFlagsOnlyWhenSet) {
  auto p = Start(MakeTask(0));
  for (const std::string& arg : p->spec.argv)
    EXPECT_FALSE(absl::StartsWith(arg, "--geneval_")) << arg;
}

TEST_F(EvaluatorAgentTest, PassesGenEvalRuleFlagsExactly) {
  options_.geneval.threshold = 0.3;
  options_.geneval.max_overlap = 0.123456789012345;
  options_.geneval.max_objects = 4;
  auto p = Start(MakeTask(0));
  EXPECT_THAT(p->spec.argv, ::testing::Contains("--geneval_threshold=0.3"));
  EXPECT_THAT(p->spec.argv,
              ::testing::Contains("--geneval_max_overlap=0.123456789012345"));
  EXPECT_THAT(p->spec.argv, ::testing::Contains("--geneval_max_objects=4"));
  for (const std::string& arg : p->spec.argv) {
    EXPECT_FALSE(absl::StartsWith(arg, "--geneval_counting_threshold")) << arg;
    EXPECT_FALSE(absl::StartsWith(arg, "--geneval_position_threshold")) << arg;
  }
}

TEST_F(EvaluatorAgentTest, ClaimsAgainEveryTickWhileThereIsNothingToDo) {
  agent().Tick();
  agent().Tick();
  EXPECT_EQ(client_.claims.size(), 2u);
  EXPECT_EQ(launcher_.launch_calls, 0);
  EXPECT_FALSE(agent().busy());
  EXPECT_EQ(agent().NextTickDelay(), absl::Seconds(1));
}

TEST_F(EvaluatorAgentTest, RenewsTheClaimEveryThirdOfItsTtl) {
  client_.claim_ttl_millis = 30000;
  Start(MakeTask(40));
  EXPECT_EQ(agent().NextTickDelay(), absl::Seconds(1));
  clock_.AdvanceTime(absl::Seconds(9));
  agent().Tick();
  EXPECT_TRUE(client_.renews.empty());
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  ASSERT_EQ(client_.renews.size(), 1u);
  EXPECT_EQ(client_.renews[0].claim_id(), "claim-40");
  EXPECT_EQ(client_.renews[0].evaluator_id(), "e1");

  // The coordinator shortens the TTL: renewals follow it.
  client_.claim_ttl_millis = 3000;
  clock_.AdvanceTime(absl::Seconds(10));
  agent().Tick();
  ASSERT_EQ(client_.renews.size(), 2u);
  EXPECT_EQ(agent().NextTickDelay(), absl::Seconds(1));
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  EXPECT_EQ(client_.renews.size(), 3u);

  // A transient failure is retried on the next tick; the task keeps running.
  client_.renew_script.push_back(absl::UnavailableError("restarting"));
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  EXPECT_EQ(client_.renews.size(), 4u);
  clock_.AdvanceTime(absl::Milliseconds(100));
  agent().Tick();
  EXPECT_EQ(client_.renews.size(), 5u);
  EXPECT_TRUE(agent().busy());
  EXPECT_TRUE(launcher_.processes[0]->signals.empty());
}

TEST_F(EvaluatorAgentTest, ReportsTheParsedScoresOfEachSuite) {
  const v1::EvalTask task = MakeTask(40);
  auto p = Start(task);
  clock_.AdvanceTime(absl::Seconds(5));
  WriteText(task.output_dir() + "/scores.json",
            ScoresJson(task.checkpoint_path()));
  p->ExitWith(0);
  agent().Tick();
  EXPECT_FALSE(agent().busy());
  ASSERT_EQ(client_.delivered.size(), 1u);
  const v1::ReportScoresRequest& r = client_.delivered[0];
  EXPECT_EQ(r.evaluator_id(), "e1");
  EXPECT_EQ(r.claim_id(), "claim-40");
  EXPECT_EQ(r.job_id(), "job-7");
  EXPECT_EQ(r.step(), 40);
  EXPECT_EQ(r.error(), "");
  ASSERT_EQ(r.scores_size(), 2);
  const v1::EvalScore& shapes = r.scores(0);
  EXPECT_EQ(shapes.suite(), "shapes_eval");
  EXPECT_EQ(shapes.job_id(), "job-7");
  EXPECT_EQ(shapes.step(), 40);
  EXPECT_EQ(shapes.checkpoint_path(), task.checkpoint_path());
  EXPECT_EQ(shapes.output_dir(), task.output_dir());
  EXPECT_EQ(shapes.evaluator_id(), "e1");
  EXPECT_EQ(shapes.unix_micros(), absl::ToUnixMicros(clock_.Now()));
  EXPECT_EQ(shapes.error(), "");
  EXPECT_THAT(
      shapes.values(),
      UnorderedElementsAre(Pair("overall", 0.5), Pair("single_object", 0.9),
                           Pair("two_object", 0.6), Pair("counting", 0.4),
                           Pair("colors", 0.7), Pair("position", 0.2),
                           Pair("color_attr", 0.2), Pair("prompts", 48),
                           Pair("images", 96), Pair("seconds", 12.5)));
  const v1::EvalScore& recon = r.scores(1);
  EXPECT_EQ(recon.suite(), "recon");
  EXPECT_THAT(recon.values(),
              UnorderedElementsAre(Pair("psnr", 24.5), Pair("ssim", 0.81),
                                   Pair("heldout_loss", 0.031),
                                   Pair("images", 16), Pair("seconds", 1.5)));
  // The same tick claims the next task.
  EXPECT_EQ(client_.claims.size(), 2u);
  // What /metrics shows: one scored task of 5 s, its values.
  const EvaluatorStats stats = agent().Stats();
  EXPECT_EQ(stats.claims, 1u);
  EXPECT_EQ(stats.tasks.at("scored"), 1u);
  EXPECT_EQ(stats.scoring_seconds.count, 1u);
  EXPECT_DOUBLE_EQ(stats.scoring_seconds.sum, 5.0);
  EXPECT_EQ(stats.last_job_id, "job-7");
  EXPECT_EQ(stats.last_step, 40);
  EXPECT_DOUBLE_EQ(stats.last_scores.at("shapes_eval").at("position"), 0.2);
}

TEST_F(EvaluatorAgentTest, AFailedExitIsReportedWithItsMessage) {
  auto p = Start(MakeTask(40));
  p->ExitWith(1, "reca-eval: NOT_FOUND: no checkpoint at /ckpt/job-7/step-40");
  agent().Tick();
  ASSERT_EQ(client_.delivered.size(), 1u);
  const v1::ReportScoresRequest& r = client_.delivered[0];
  EXPECT_EQ(r.error(),
            "reca-eval: NOT_FOUND: no checkpoint at /ckpt/job-7/step-40");
  ASSERT_EQ(r.scores_size(), 2);
  for (const v1::EvalScore& s : r.scores()) {
    EXPECT_EQ(s.error(), r.error());
    EXPECT_THAT(s.values(), IsEmpty());
  }
  EXPECT_FALSE(agent().busy());
}

TEST_F(EvaluatorAgentTest, AMalformedOrMissingScoresFileIsReportedAsAnError) {
  const v1::EvalTask a = MakeTask(10);
  auto p = Start(a);
  WriteText(a.output_dir() + "/scores.json", "{\"suites\": {\"shapes_eval\"");
  p->ExitWith(0);
  agent().Tick();
  ASSERT_EQ(client_.delivered.size(), 1u);
  EXPECT_THAT(client_.delivered[0].error(), HasSubstr("not a JSON object"));
  EXPECT_THAT(client_.delivered[0].error(), HasSubstr("scores.json"));
  for (const v1::EvalScore& s : client_.delivered[0].scores())
    EXPECT_THAT(s.values(), IsEmpty());

  // Exited 0 without writing one at all.
  p = Start(MakeTask(20));
  p->ExitWith(0);
  agent().Tick();
  ASSERT_EQ(client_.delivered.size(), 2u);
  EXPECT_THAT(client_.delivered[1].error(), HasSubstr("reading scores"));
}

TEST_F(EvaluatorAgentTest, ASuiteMissingFromScoresIsReportedAsItsError) {
  const v1::EvalTask task = MakeTask(40);
  auto p = Start(task);
  WriteText(task.output_dir() + "/scores.json",
            R"({"checkpoint": ")" + task.checkpoint_path() +
                R"(", "suites": {"shapes_eval": {"overall": 0.5,
                "tags": {"position": 0.25}}}})");
  p->ExitWith(0);
  agent().Tick();
  ASSERT_EQ(client_.delivered.size(), 1u);
  const v1::ReportScoresRequest& r = client_.delivered[0];
  EXPECT_THAT(r.error(), HasSubstr("suite recon: missing"));
  ASSERT_EQ(r.scores_size(), 2);
  EXPECT_EQ(r.scores(0).error(), "");
  EXPECT_THAT(
      r.scores(0).values(),
      UnorderedElementsAre(Pair("overall", 0.5), Pair("position", 0.25)));
  EXPECT_THAT(r.scores(1).error(), HasSubstr("suite recon: missing"));
  EXPECT_THAT(r.scores(1).values(), IsEmpty());
}

TEST_F(EvaluatorAgentTest, ALaunchFailureIsReportedSoTheTaskIsNotRetried) {
  launcher_.fail_next = absl::NotFoundError("no such file: reca-eval");
  client_.Offer(MakeTask(40));
  agent().Tick();
  EXPECT_FALSE(agent().busy());
  ASSERT_EQ(client_.delivered.size(), 1u);
  EXPECT_THAT(client_.delivered[0].error(),
              HasSubstr("no such file: reca-eval"));

  v1::EvalTask bad = MakeTask(50);
  bad.clear_suites();
  client_.Offer(bad);
  agent().Tick();
  ASSERT_EQ(client_.delivered.size(), 2u);
  EXPECT_THAT(client_.delivered[1].error(), HasSubstr("no suites"));
  EXPECT_EQ(launcher_.processes.size(), 0u);
}

TEST_F(EvaluatorAgentTest, RetriesAReportOnUnavailableWithoutLosingIt) {
  const v1::EvalTask task = MakeTask(40);
  auto p = Start(task);
  WriteText(task.output_dir() + "/scores.json",
            ScoresJson(task.checkpoint_path()));
  p->ExitWith(0);
  client_.report_script = {absl::UnavailableError("down"),
                           absl::DeadlineExceededError("slow")};
  agent().Tick();
  EXPECT_EQ(client_.reports.size(), 1u);
  EXPECT_EQ(agent().pending_reports(), 1u);
  // No new work while a report waits.
  EXPECT_EQ(client_.claims.size(), 1u);
  agent().Tick();
  EXPECT_EQ(client_.reports.size(), 2u);
  EXPECT_EQ(agent().pending_reports(), 1u);
  EXPECT_EQ(client_.claims.size(), 1u);
  agent().Tick();
  ASSERT_EQ(client_.delivered.size(), 1u);
  EXPECT_EQ(client_.delivered[0].scores_size(), 2);
  EXPECT_EQ(client_.delivered[0].claim_id(), "claim-40");
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_EQ(client_.claims.size(), 2u);
}

TEST_F(EvaluatorAgentTest, AReportTheCoordinatorRejectsIsDropped) {
  auto p = Start(MakeTask(40));
  p->ExitWith(1, "reca-eval: INTERNAL: boom");
  client_.report_script = {absl::InvalidArgumentError("unknown claim")};
  agent().Tick();
  EXPECT_EQ(client_.reports.size(), 1u);
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_TRUE(Logged("report dropped"));
  EXPECT_EQ(client_.claims.size(), 2u);
}

TEST_F(EvaluatorAgentTest, AnExpiredClaimKillsRecaEvalAndMovesOn) {
  auto p = Start(MakeTask(40));
  client_.renew_script.push_back(absl::NotFoundError("no claim claim-40"));
  clock_.AdvanceTime(absl::Seconds(10));
  agent().Tick();
  EXPECT_THAT(p->signals, ElementsAre(SIGKILL));
  EXPECT_TRUE(p->destroyed);
  EXPECT_FALSE(agent().busy());
  EXPECT_TRUE(client_.reports.empty());
  EXPECT_TRUE(Logged("job job-7 step 40: claim claim-40 expired"));
  EXPECT_EQ(agent().Stats().tasks.at("dropped"), 1u);
  // The same tick claims the next task.
  client_.Offer(MakeTask(50));
  agent().Tick();
  EXPECT_TRUE(agent().busy());
  EXPECT_EQ(launcher_.processes.size(), 2u);
  EXPECT_TRUE(client_.reports.empty());
}

TEST_F(EvaluatorAgentTest, ShutdownStopsRecaEvalAndDoesNotReport) {
  auto p = Start(MakeTask(40));
  ExitInfo terminated;
  terminated.cause = ExitInfo::Cause::kSignal;
  terminated.signal = SIGTERM;
  terminated.message = "killed by SIGTERM";
  p->exit_on_sigterm = terminated;
  agent().Shutdown();
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM));
  EXPECT_TRUE(p->destroyed);
  EXPECT_FALSE(agent().busy());
  EXPECT_TRUE(client_.reports.empty());
  EXPECT_TRUE(Logged("stopped"));
}

TEST_F(EvaluatorAgentTest, ShutdownKillsRecaEvalAfterTheGrace) {
  auto p = Start(MakeTask(40));
  const absl::Time start = clock_.Now();
  agent().Shutdown();  // the fake ignores both signals: Shutdown gives up
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM, SIGKILL));
  EXPECT_GE(clock_.Now() - start, absl::Seconds(10));
  EXPECT_LT(clock_.Now() - start, absl::Seconds(20));
  EXPECT_TRUE(client_.reports.empty());
}

TEST_F(EvaluatorAgentTest, RunTicksUntilStoppedThenShutsDown) {
  std::atomic<bool> stop{false};
  int ticks = 0;
  // The fake sleep stops the loop after a few ticks' worth of waiting.
  EvaluatorAgent::Deps deps{
      client_, launcher_, clock_,
      [&](absl::Duration d) {
        clock_.AdvanceTime(d);
        if (++ticks == 25) stop = true;
      },
      [this](const std::string& l) { logs_.push_back(l); }};
  EvaluatorAgent a(std::move(deps), options_);
  a.Run(stop);
  EXPECT_EQ(client_.claims.size(), 3u);  // 100 ms slices of 1 s
  EXPECT_TRUE(Logged("evaluator e1: stopped"));
}

// The real launcher and a shell script in reca-eval's place: the command
// line, the log and ClassifyExit's message work end to end.
class EvaluatorAgentProcessTest : public EvaluatorAgentTest {
 protected:
  void TearDown() override { agent_.reset(); }  // before posix_ goes

  // Writes the script `body` as the eval binary.
  void UseScript(const std::string& body) {
    options_.eval_binary = root_ + "/reca-eval.sh";
    WriteText(options_.eval_binary, "#!/bin/sh\n" + body);
    fs::permissions(options_.eval_binary, fs::perms::owner_all);
    EvaluatorAgent::Deps deps{
        client_, posix_, clock_, nullptr,
        [this](const std::string& line) { logs_.push_back(line); }};
    agent_ = std::make_unique<EvaluatorAgent>(std::move(deps), options_);
  }

  // Ticks (real time) until the task's report went out.
  void RunTask(const v1::EvalTask& task) {
    client_.Offer(task);
    agent().Tick();
    ASSERT_TRUE(agent().busy());
    for (int i = 0; i < 1000 && agent().busy(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
      agent().Tick();
    }
    ASSERT_FALSE(agent().busy());
    ASSERT_EQ(client_.delivered.size(), 1u);
  }

  PosixProcessLauncher posix_;
};

TEST_F(EvaluatorAgentProcessTest, ScoresFromARealProcess) {
  const v1::EvalTask task = MakeTask(40);
  UseScript(R"(for a in "$@"; do case "$a" in --out=*) out="${a#--out=}";;
  --checkpoint=*) ckpt="${a#--checkpoint=}";; esac; done
echo "scoring $ckpt with $OMP_NUM_THREADS threads"
printf '{"checkpoint": "%s", "suites": {"shapes_eval": {"overall": 0.5, "tags": {"position": 0.25}}, "recon": {"psnr": 20, "ssim": 0.5, "heldout_loss": 0.1}}}' "$ckpt" > "$out/scores.json"
)");
  RunTask(task);
  const v1::ReportScoresRequest& r = client_.delivered[0];
  EXPECT_EQ(r.error(), "");
  ASSERT_EQ(r.scores_size(), 2);
  EXPECT_EQ(r.scores(0).values().at("position"), 0.25);
  EXPECT_EQ(r.scores(1).values().at("psnr"), 20);
  std::ifstream log(task.output_dir() + "/reca-eval.log");
  std::string line;
  std::getline(log, line);
  EXPECT_EQ(line, "scoring " + task.checkpoint_path() + " with 3 threads");
}

TEST_F(EvaluatorAgentProcessTest, TheErrorLineOfAFailedProcess) {
  UseScript(R"(echo "loading"
echo "reca-eval: NOT_FOUND: no checkpoint at /ckpt" >&2
exit 1
)");
  RunTask(MakeTask(40));
  EXPECT_EQ(client_.delivered[0].error(),
            "reca-eval: NOT_FOUND: no checkpoint at /ckpt");
}

}  // namespace
}  // namespace reca
