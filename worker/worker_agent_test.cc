#include "worker/worker_agent.h"

#include <signal.h>
#include <stdio.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reca/ckpt/checkpoint_store.h"
#include "reca/ckpt/sha256.h"
#include "reca/v1/worker_service.pb.h"
#include "worker/worker_test_fakes.h"

namespace reca {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

void WriteText(const std::string& path, const std::string& text,
               bool append = false) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  out << text;
}

// What reca-train appends per step (values derived from the step).
std::string MetricLine(int64_t step, int rank = 0) {
  return absl::StrCat(
      R"({"step":)", step, R"(,"rank":)", rank, R"(,"loss":)",
      2.0 - step * 0.01,
      R"(,"loss_by_source":{"shapes-recon":0.5,"shapes-i2t":0.25},"samples_per_s":)",
      100 + step,
      R"(,"step_s":0.25,"data_wait_s":0.01,"allreduce_s":0.02,"lr":0.0001,"grad_norm":1.5})",
      "\n");
}
// A MANIFEST.json as reca-train's CheckpointStore writes it (files not listed).
std::string Manifest(int64_t step, int64_t epoch) {
  return absl::StrCat(R"({"format": "reca-checkpoint/1", "step": )", step,
                      R"(, "epoch": )", epoch, R"(, "files": []})");
}

constexpr int kPointsPerLine = 9;  // loss, 2 sources, samples_per_s, step_s,
                                   // data_wait_s, allreduce_s, lr, grad_norm

class WorkerAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = testing::TempDir() + "/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(out_);
    fs::create_directories(out_);
    options_.worker_id = "w1";
    options_.address = "10.0.0.5";
    options_.cpu_slots = 2;
    options_.gpu_slots = 0;
    options_.rendezvous_port_min = 29600;
    options_.rendezvous_port_max = 29610;
    options_.trainer_path = "/opt/reca/bin/reca-train";
    options_.default_threads = 3;
    options_.stop_grace = absl::Seconds(30);
  }

  WorkerAgent& agent() {
    if (!agent_) {
      WorkerAgent::Deps deps{
          client_, launcher_, clock_,
          [this](absl::Duration d) { clock_.AdvanceTime(d); },
          [this](const std::string& line) { logs_.push_back(line); }};
      agent_ = std::make_unique<WorkerAgent>(std::move(deps), options_);
    }
    return *agent_;
  }

  v1::Assignment MakeAssignment(const std::string& job, int64_t epoch, int rank,
                                int world = 2) {
    v1::Assignment a;
    a.set_job_id(job);
    a.set_epoch(epoch);
    a.set_rank(rank);
    a.set_world_size(world);
    a.set_master_addr("10.0.0.1");
    a.set_master_port(29601);
    a.set_output_dir(out_);
    a.mutable_spec()->set_name("j");
    a.mutable_spec()->set_steps(200);
    return a;
  }

  // The next heartbeat answers with these assignments.
  void Assign(std::vector<v1::Assignment> assignments) {
    v1::HeartbeatResponse r;
    for (auto& a : assignments) *r.add_assignments() = a;
    client_.heartbeat_script.push_back(r);
  }

  // Registers and launches `a` in one tick; returns its process.
  std::shared_ptr<FakeProcessState> Start(const v1::Assignment& a) {
    Assign({a});
    const size_t before = launcher_.processes.size();
    agent().Tick();
    EXPECT_EQ(launcher_.processes.size(), before + 1);
    return launcher_.processes.back();
  }

  // Heartbeats once a second (the lease stays alive) for `d`.
  void TickEverySecondFor(absl::Duration d) {
    for (absl::Duration t; t < d; t += absl::Seconds(1)) {
      clock_.AdvanceTime(absl::Seconds(1));
      agent().Tick();
    }
  }

  const v1::HeartbeatRequest& LastHeartbeat() {
    return client_.heartbeats.back();
  }

  bool Logged(const std::string& text) {
    for (const auto& l : logs_) {
      if (absl::StrContains(l, text)) return true;
    }
    return false;
  }

  std::string out_;
  WorkerOptions options_;
  FakeCoordinatorClient client_;
  FakeProcessLauncher launcher_;
  FakeClock clock_;
  std::vector<std::string> logs_;
  std::unique_ptr<WorkerAgent> agent_;
};

TEST_F(WorkerAgentTest, RegistersWithItsSlotsAndHeartbeatsUnderTheLease) {
  agent().Tick();
  ASSERT_EQ(client_.registers.size(), 1u);
  const v1::RegisterWorkerRequest& r = client_.registers[0];
  EXPECT_EQ(r.worker_id(), "w1");
  EXPECT_EQ(r.address(), "10.0.0.5");
  EXPECT_EQ(r.cpu_slots(), 2);
  EXPECT_EQ(r.gpu_slots(), 0);
  EXPECT_EQ(r.rendezvous_port_min(), 29600);
  EXPECT_EQ(r.rendezvous_port_max(), 29610);
  EXPECT_TRUE(agent().registered());
  EXPECT_EQ(agent().lease_id(), "lease-1");
  ASSERT_EQ(client_.heartbeats.size(), 1u);
  EXPECT_EQ(LastHeartbeat().lease_id(), "lease-1");
  EXPECT_EQ(LastHeartbeat().worker_id(), "w1");
  EXPECT_EQ(agent().NextTickDelay(),
            absl::Seconds(1));  // the coordinator's interval
  agent().Tick();
  EXPECT_EQ(client_.registers.size(), 1u);
  EXPECT_EQ(client_.heartbeats.size(), 2u);
}

TEST_F(WorkerAgentTest, RegisterRetriesWithBackoffWhileTheCoordinatorIsDown) {
  client_.down = true;
  agent().Tick();
  EXPECT_EQ(client_.registers.size(), 1u);
  agent().Tick();  // too early
  EXPECT_EQ(client_.registers.size(), 1u);
  clock_.AdvanceTime(absl::Milliseconds(500));
  agent().Tick();
  EXPECT_EQ(client_.registers.size(), 2u);
  clock_.AdvanceTime(absl::Milliseconds(500));  // the backoff doubled to 1 s
  agent().Tick();
  EXPECT_EQ(client_.registers.size(), 2u);
  clock_.AdvanceTime(absl::Milliseconds(500));
  agent().Tick();
  EXPECT_EQ(client_.registers.size(), 3u);
  EXPECT_FALSE(agent().registered());
  EXPECT_TRUE(client_.heartbeats.empty());
  client_.down = false;
  clock_.AdvanceTime(absl::Seconds(2));
  agent().Tick();
  EXPECT_TRUE(agent().registered());
  EXPECT_EQ(client_.heartbeats.size(), 1u);
}

TEST_F(WorkerAgentTest, LaunchesAnAssignmentWithTheTrainerCommandLine) {
  v1::Assignment a = MakeAssignment("job-7", 4, 1, 2);
  a.mutable_spec()->mutable_optimizer()->set_lr(1e-4);
  auto p = Start(a);
  const ProcessSpec& spec = p->spec;
  const std::string rank_dir = out_ + "/ranks/rank-1";
  EXPECT_THAT(
      spec.argv,
      ElementsAre("/opt/reca/bin/reca-train",
                  "--spec=" + rank_dir + "/spec.json", "--out=" + out_,
                  "--rank=1", "--world_size=2", "--master_addr=10.0.0.1",
                  "--master_port=29601", "--local_addr=10.0.0.5", "--threads=3",
                  "--progress=false", "--resume_from=none",
                  "--resume_manifest_sha256=", "--epoch=4", "--keep_checkpoints=0"));
  EXPECT_EQ(spec.log_path, rank_dir + "/train.log");
  EXPECT_EQ(spec.env.at("RANK"), "1");
  EXPECT_EQ(spec.env.at("WORLD_SIZE"), "2");
  EXPECT_EQ(spec.env.at("MASTER_ADDR"), "10.0.0.1");
  EXPECT_EQ(spec.env.at("MASTER_PORT"), "29601");
  EXPECT_EQ(spec.env.at("RECA_JOB_ID"), "job-7");
  EXPECT_EQ(spec.env.at("RECA_EPOCH"), "4");
  EXPECT_EQ(spec.env.at("RECA_WORKER_ID"), "w1");

  std::ifstream in(rank_dir + "/spec.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["name"], "j");
  ASSERT_TRUE(j["steps"].is_number_integer())
      << j.dump();  // not the proto JSON string "200"
  EXPECT_EQ(j["steps"], 200);
  EXPECT_DOUBLE_EQ(j["optimizer"]["lr"].get<double>(), 1e-4);
  EXPECT_FALSE(j.contains("batch_per_rank"));  // unset: reca-train's default

  // The assignment's own thread count wins over the worker's default.
  v1::Assignment b = MakeAssignment("job-8", 5, 0, 1);
  b.set_threads(8);
  EXPECT_THAT(Start(b)->spec.argv, ::testing::Contains("--threads=8"));
  EXPECT_TRUE(Logged("worker w1: job job-7 epoch 4 rank 1: launched pid 1000"));
}

TEST_F(WorkerAgentTest, DeletesRetiredCheckpointsAndAcknowledgesOnce) {
  const std::string ckpts = out_ + "/checkpoints";
  CheckpointStore store(ckpts);
  ASSERT_TRUE(store.Commit(10, {{"w", "x"}}, 0).ok());
  ASSERT_TRUE(store.Commit(20, {{"w", "y"}}, 0).ok());
  v1::HeartbeatResponse r;
  auto ask = [&](int64_t step, const std::string& path) {
    v1::Checkpoint* c = r.add_delete_checkpoints();
    c->set_job_id("j");
    c->set_step(step);
    c->set_path(path);
  };
  ask(10, ckpts + "/step-00000010");
  ask(30, ckpts + "/step-00000030");  // already gone: deleted as well
  ask(40, out_ + "/model.safetensors");  // not a checkpoint directory: refused
  client_.heartbeat_script.push_back(r);
  agent().Tick();  // registers, heartbeats, deletes
  auto steps = [&] {
    std::vector<int64_t> out;
    const std::vector<CheckpointInfo> listed = store.List().value();
    for (const CheckpointInfo& c : listed) out.push_back(c.step);
    return out;
  };
  EXPECT_EQ(steps(), (std::vector<int64_t>{20}));
  EXPECT_TRUE(Logged("not deleting j: checkpoint step 40"));
  client_.down = true;  // the acknowledgement waits for a heartbeat that succeeds
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  client_.down = false;
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  const v1::HeartbeatRequest& ack = LastHeartbeat();
  ASSERT_EQ(ack.deleted_checkpoints_size(), 2);
  EXPECT_EQ(ack.deleted_checkpoints(0).step(), 10);
  EXPECT_EQ(ack.deleted_checkpoints(1).step(), 30);
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().deleted_checkpoints_size(), 0);  // sent once
}

TEST_F(WorkerAgentTest, RepeatedAssignmentsStartOnce) {
  const v1::Assignment a = MakeAssignment("j", 1, 0);
  auto p = Start(a);
  Assign({a, a});
  agent().Tick();
  EXPECT_EQ(launcher_.launch_calls, 1);
  // Not even after it exited: the coordinator starts a new attempt under a new
  // epoch.
  p->ExitWith(1);
  Assign({a});
  agent().Tick();
  EXPECT_EQ(launcher_.launch_calls, 1);
  Assign({MakeAssignment("j", 2, 0)});
  agent().Tick();
  EXPECT_EQ(launcher_.launch_calls, 2);
}

TEST_F(WorkerAgentTest, ProgressCarriesFlopsMfuAndTheLatestCollapseCheck) {
  Start(MakeAssignment("j", 1, 0));
  const std::string metrics = out_ + "/metrics.jsonl";
  // Step 2 carries a collapse check; step 3 does not, and keeps it.
  WriteText(metrics,
            MetricLine(1) +
                R"({"step":2,"rank":0,"loss":1.5,"model_flops_per_s":2e9,"heldout_recon_loss":0.1,)"
                R"("heldout_t2i_loss":0.9,"collapse_ratio":0.1,"collapse_alarm":1})"
                "\n" +
                R"({"step":3,"rank":0,"loss":1.4,"model_flops_per_s":3e9,"mfu":0.6})" "\n");
  agent().Tick();
  ASSERT_EQ(LastHeartbeat().ranks_size(), 1);
  const v1::RankProgress& p = LastHeartbeat().ranks(0).progress();
  EXPECT_EQ(p.step(), 3);
  EXPECT_DOUBLE_EQ(p.model_flops_per_second(), 3e9);
  EXPECT_DOUBLE_EQ(p.mfu(), 0.6);
  EXPECT_DOUBLE_EQ(p.collapse_ratio(), 0.1);
  EXPECT_TRUE(p.collapse_alarm());
  // A later check clears the alarm.
  WriteText(metrics, R"({"step":4,"rank":0,"loss":1.3,"collapse_ratio":0.5,"collapse_alarm":0})" "\n", /*append=*/true);
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  const v1::RankProgress& q = LastHeartbeat().ranks(0).progress();
  EXPECT_EQ(q.step(), 4);
  EXPECT_DOUBLE_EQ(q.collapse_ratio(), 0.5);
  EXPECT_FALSE(q.collapse_alarm());
}

TEST_F(WorkerAgentTest, ForwardsProgressAndMetricPoints) {
  Start(MakeAssignment("j", 1, 1));
  const std::string metrics = out_ + "/metrics.rank1.jsonl";
  WriteText(metrics, MetricLine(1, 1) + MetricLine(2, 1));
  agent().Tick();
  ASSERT_EQ(LastHeartbeat().ranks_size(), 1);
  const v1::RankStatus& s = LastHeartbeat().ranks(0);
  EXPECT_EQ(s.job_id(), "j");
  EXPECT_EQ(s.epoch(), 1);
  EXPECT_EQ(s.rank(), 1);
  EXPECT_TRUE(s.running());
  EXPECT_EQ(s.progress().rank(), 1);
  EXPECT_EQ(s.progress().step(), 2);
  EXPECT_DOUBLE_EQ(s.progress().loss(), 1.98);
  EXPECT_DOUBLE_EQ(s.progress().samples_per_second(), 102);
  EXPECT_DOUBLE_EQ(s.progress().step_seconds(), 0.25);
  EXPECT_DOUBLE_EQ(s.progress().data_wait_seconds(), 0.01);
  EXPECT_DOUBLE_EQ(s.progress().allreduce_seconds(), 0.02);
  EXPECT_EQ(s.progress().update_unix_micros(),
            absl::ToUnixMicros(clock_.Now()));
  ASSERT_EQ(s.points_size(), 2 * kPointsPerLine);
  std::vector<std::string> names;
  for (int i = 0; i < kPointsPerLine; ++i) names.push_back(s.points(i).name());
  EXPECT_THAT(
      names, ElementsAre("loss", "loss_by_source/shapes-recon",
                         "loss_by_source/shapes-i2t", "samples_per_s", "step_s",
                         "data_wait_s", "allreduce_s", "lr", "grad_norm"));
  EXPECT_EQ(s.points(0).step(), 1);
  EXPECT_EQ(s.points(0).rank(), 1);
  EXPECT_DOUBLE_EQ(s.points(0).value(), 1.99);
  EXPECT_EQ(s.points(kPointsPerLine).step(), 2);

  agent().Tick();  // nothing new
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), 0);
  EXPECT_EQ(LastHeartbeat().ranks(0).progress().step(), 2);

  // A line still being written waits until it is complete.
  std::string line3 = MetricLine(3, 1);
  WriteText(metrics, line3.substr(0, 20), /*append=*/true);
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), 0);
  WriteText(metrics, line3.substr(20), /*append=*/true);
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), kPointsPerLine);
  EXPECT_EQ(LastHeartbeat().ranks(0).points(0).step(), 3);
}

TEST_F(WorkerAgentTest, AResumedRunsRewrittenMetricsFileIsForwardedWhole) {
  // An earlier attempt wrote steps 1-5 and died before its worker forwarded
  // 4 and 5; this attempt resumes from step 3.
  const std::string metrics = out_ + "/metrics.jsonl";
  WriteText(metrics, MetricLine(1) + MetricLine(2) + MetricLine(3) +
                         MetricLine(4) + MetricLine(5));
  Start(MakeAssignment("j", 2, 0, 1));
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(),
            0);  // the earlier attempt's lines, before the trainer trims them
  // reca-train trims the file to the checkpoint (a rename over it), then
  // re-runs steps 4 and 5 and goes on: the whole new file is forwarded, so no
  // step is missing from the history (a repeat overwrites itself there).
  WriteText(metrics + ".tmp", MetricLine(1) + MetricLine(2) + MetricLine(3) +
                                  MetricLine(4) + MetricLine(5) +
                                  MetricLine(6));
  fs::rename(metrics + ".tmp", metrics);
  agent().Tick();
  ASSERT_EQ(LastHeartbeat().ranks(0).points_size(), 6 * kPointsPerLine);
  EXPECT_EQ(LastHeartbeat().ranks(0).points(0).step(), 1);
  EXPECT_EQ(LastHeartbeat().ranks(0).points(5 * kPointsPerLine).step(), 6);
  EXPECT_EQ(LastHeartbeat().ranks(0).progress().step(), 6);
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), 0);  // once per file

  // A file truncated in place (shorter than what was read) is read again too.
  WriteText(metrics, MetricLine(3) + MetricLine(7));
  agent().Tick();
  ASSERT_EQ(LastHeartbeat().ranks(0).points_size(), 2 * kPointsPerLine);
  EXPECT_EQ(LastHeartbeat().ranks(0).points(kPointsPerLine).step(), 7);
}

TEST_F(WorkerAgentTest, MetricPointsPerHeartbeatAreCappedAndTheRestFollows) {
  options_.max_points_per_heartbeat = 20;
  Start(MakeAssignment("j", 1, 0, 1));
  std::string lines;
  for (int step = 1; step <= 5; ++step) lines += MetricLine(step);
  WriteText(out_ + "/metrics.jsonl", lines);
  std::vector<int64_t> steps;
  for (int i = 0; i < 4; ++i) {
    agent().Tick();
    EXPECT_LE(LastHeartbeat().ranks(0).points_size(), 20);
    for (const auto& p : LastHeartbeat().ranks(0).points())
      steps.push_back(p.step());
  }
  ASSERT_EQ(steps.size(), 5u * kPointsPerLine);  // all of them, once, in order
  EXPECT_TRUE(std::is_sorted(steps.begin(), steps.end()));
  EXPECT_EQ(steps.back(), 5);
}

TEST_F(WorkerAgentTest, PointsOfAFailedHeartbeatAreSentAgain) {
  Start(MakeAssignment("j", 1, 0, 1));
  WriteText(out_ + "/metrics.jsonl", MetricLine(1));
  client_.heartbeat_script.push_back(absl::UnavailableError("blip"));
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), kPointsPerLine);
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), kPointsPerLine);
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks(0).points_size(), 0);
}

TEST_F(WorkerAgentTest, ReportsCheckpointsWhileRunningThenTheExit) {
  auto p = Start(MakeAssignment("j", 3, 0, 1));
  const std::string ckpts = out_ + "/checkpoints";
  WriteText(ckpts + "/step-00000010/model.safetensors", std::string(1000, 'w'));
  WriteText(ckpts + "/step-00000010/optimizer.pt", std::string(500, 'o'));
  const std::string manifest = Manifest(10, 3);
  WriteText(ckpts + "/step-00000010/MANIFEST.json", manifest);
  WriteText(ckpts + "/.tmp-step-00000020-77/model.safetensors",
            "partial");  // a commit in progress
  WriteText(ckpts + "/step-00000030/model.safetensors", "no manifest yet");
  agent().Tick();
  ASSERT_EQ(client_.checkpoints.size(), 1u);
  const v1::ReportCheckpointRequest& r = client_.checkpoints[0];
  EXPECT_EQ(r.worker_id(), "w1");
  EXPECT_EQ(r.lease_id(), "lease-1");
  EXPECT_EQ(r.checkpoint().job_id(), "j");
  EXPECT_EQ(r.checkpoint().epoch(), 3);
  EXPECT_EQ(r.checkpoint().step(), 10);
  EXPECT_EQ(r.checkpoint().path(), ckpts + "/step-00000010");
  EXPECT_EQ(r.checkpoint().manifest_sha256(), Sha256Hex(manifest));
  EXPECT_EQ(r.checkpoint().bytes(),
            static_cast<int64_t>(1000 + 500 + manifest.size()));
  EXPECT_GT(r.checkpoint().commit_unix_micros(), 0);
  agent().Tick();
  EXPECT_EQ(client_.checkpoints.size(), 1u);  // once

  // It commits step 30 on its way out (SIGTERM, say) and exits 0.
  WriteText(ckpts + "/step-00000030/MANIFEST.json", Manifest(30, 3));
  p->ExitWith(0);
  agent().Tick();
  EXPECT_THAT(client_.report_order,
              ElementsAre("checkpoint 10", "checkpoint 30", "exit 0"));
  ASSERT_EQ(client_.exits.size(), 1u);
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_SUCCESS);
  EXPECT_EQ(client_.exits[0].job_id(), "j");
  EXPECT_EQ(client_.exits[0].epoch(), 3);
  EXPECT_EQ(client_.exits[0].lease_id(), "lease-1");
  // The heartbeat after the exit says so once, then the rank is forgotten.
  EXPECT_FALSE(LastHeartbeat().ranks(0).running());
  agent().Tick();
  EXPECT_EQ(LastHeartbeat().ranks_size(), 0);
  EXPECT_EQ(agent().live_ranks(), 0u);
}

// Fencing: a checkpoint an earlier attempt left on disk (the next attempt's
// rank 0 discards it after start-up) is reported with the epoch that committed
// it, which the coordinator refuses; never as the new attempt's own.
TEST_F(WorkerAgentTest, ACheckpointOfAnEarlierAttemptKeepsItsEpoch) {
  const std::string ckpts = out_ + "/checkpoints";
  WriteText(ckpts + "/step-00000040/MANIFEST.json", Manifest(40, 4));  // recorded
  WriteText(ckpts + "/step-00000044/MANIFEST.json", Manifest(44, 4));  // not
  Start(MakeAssignment("j", 5, 0, 1));
  agent().Tick();
  ASSERT_EQ(client_.checkpoints.size(), 2u);
  EXPECT_EQ(client_.checkpoints[0].checkpoint().epoch(), 4);
  EXPECT_EQ(client_.checkpoints[1].checkpoint().step(), 44);
  EXPECT_EQ(client_.checkpoints[1].checkpoint().epoch(), 4);
  // The new attempt's own commits carry its epoch: step 44 again, after its
  // rank 0 discarded the earlier attempt's, and then step 48.
  fs::remove_all(ckpts + "/step-00000044");
  agent().Tick();
  WriteText(ckpts + "/step-00000044/MANIFEST.json", Manifest(44, 5));
  WriteText(ckpts + "/step-00000048/MANIFEST.json", Manifest(48, 5));
  agent().Tick();
  ASSERT_EQ(client_.checkpoints.size(), 4u);
  EXPECT_EQ(client_.checkpoints[2].checkpoint().step(), 44);
  EXPECT_EQ(client_.checkpoints[2].checkpoint().epoch(), 5);
  EXPECT_EQ(client_.checkpoints[3].checkpoint().step(), 48);
  EXPECT_EQ(client_.checkpoints[3].checkpoint().epoch(), 5);
}

TEST_F(WorkerAgentTest, ClassifiedExitsAreReportedWithTheirCause) {
  auto p0 = Start(MakeAssignment("j", 1, 0));
  auto p1 = Start(MakeAssignment("j", 1, 1));
  p0->ExitWith(1,
               "reca-train: INVALID_ARGUMENT: spec.optimizer.lr: must be > 0");
  p1->KilledBy(SIGKILL, ExitInfo::Cause::kOutOfMemory);
  agent().Tick();
  ASSERT_EQ(client_.exits.size(), 2u);
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_ERROR);
  EXPECT_EQ(client_.exits[0].exit_code(), 1);
  EXPECT_EQ(client_.exits[0].message(),
            "reca-train: INVALID_ARGUMENT: spec.optimizer.lr: must be > 0");
  EXPECT_EQ(client_.exits[1].cause(),
            v1::EXIT_CAUSE_OUT_OF_MEMORY);  // nobody here sent that SIGKILL
  EXPECT_EQ(client_.exits[1].signal(), SIGKILL);
  EXPECT_TRUE(Logged("job j epoch 1 rank 0: pid 1000 ended: EXIT_CAUSE_ERROR"));
  // What /metrics shows after that tick.
  const WorkerStats stats = agent().Stats();
  EXPECT_EQ(stats.launches, 2u);
  EXPECT_EQ(stats.exits_by_cause.at("error"), 1u);
  EXPECT_EQ(stats.exits_by_cause.at("out_of_memory"), 1u);
  EXPECT_TRUE(stats.ranks.empty());
  EXPECT_TRUE(stats.registered);
  EXPECT_GE(stats.heartbeats_ok, 1u);
}

TEST_F(WorkerAgentTest, ReportsSurviveAnOutageAndKeepTheirOrder) {
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  WriteText(out_ + "/checkpoints/step-00000005/MANIFEST.json", Manifest(5, 1));
  client_.report_script = {absl::UnavailableError("down"),
                           absl::DeadlineExceededError("slow")};
  p->ExitWith(0);
  agent().Tick();  // checkpoint: UNAVAILABLE; the exit waits behind it
  EXPECT_EQ(agent().pending_reports(), 2u);
  EXPECT_TRUE(client_.exits.empty());
  agent().Tick();  // checkpoint: DEADLINE_EXCEEDED
  EXPECT_EQ(agent().pending_reports(), 2u);
  agent().Tick();
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_THAT(client_.report_order, ElementsAre("checkpoint 5", "exit 0"));
  EXPECT_EQ(client_.checkpoints.size(),
            3u);  // two failed tries and the delivery
}

TEST_F(WorkerAgentTest, StaleEpochReportsAreDroppedWithALogLine) {
  auto p0 = Start(MakeAssignment("j", 1, 0));
  auto p1 = Start(MakeAssignment("j", 1, 1));
  client_.report_script = {
      absl::FailedPreconditionError("epoch 1 is stale (current 2)")};
  p0->ExitWith(0);
  p1->ExitWith(0);
  agent().Tick();
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_THAT(
      client_.report_order,
      ElementsAre("exit 1"));  // rank 0's was rejected, rank 1's went on
  EXPECT_TRUE(Logged(
      "job j epoch 1 rank 0: exit (EXIT_CAUSE_SUCCESS): report dropped"));
}

TEST_F(WorkerAgentTest, ReportsTheCoordinatorCanNeverTakeAreDroppedAtOnce) {
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  client_.report_script = {
      absl::InvalidArgumentError("rank 0 of j is not placed on w1")};
  p->ExitWith(0);
  agent().Tick();
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_EQ(client_.exits.size(), 1u);
  EXPECT_TRUE(Logged("report dropped, the coordinator rejected it"));
}

TEST_F(WorkerAgentTest, OtherReportErrorsAreRetriedAFewTimesThenDropped) {
  options_.max_report_attempts = 3;
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  client_.report_script = {absl::InternalError("db"), absl::InternalError("db"),
                           absl::InternalError("db")};
  p->ExitWith(0);
  agent().Tick();
  agent().Tick();
  EXPECT_EQ(agent().pending_reports(), 1u);
  agent().Tick();
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_TRUE(client_.report_order.empty());
  EXPECT_TRUE(Logged("report dropped after 3 tries"));
}

TEST_F(WorkerAgentTest, CancellationSigtermsThenSigkillsAfterTheGrace) {
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  auto other = Start(MakeAssignment("k", 1, 0, 1));
  v1::HeartbeatResponse r;
  v1::Cancellation* c = r.add_cancellations();
  c->set_job_id("j");
  c->set_epoch(1);
  c->set_reason("user");
  client_.heartbeat_script.push_back(r);
  agent().Tick();
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM));
  EXPECT_TRUE(other->signals.empty());
  EXPECT_EQ(agent().NextTickDelay(), absl::Seconds(1));
  TickEverySecondFor(absl::Seconds(29));
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM));  // no second SIGTERM either
  TickEverySecondFor(absl::Seconds(1));
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM, SIGKILL));
  // How a Process classifies a SIGKILL it did not send itself; ours is no OOM.
  p->KilledBy(SIGKILL, ExitInfo::Cause::kOutOfMemory);
  agent().Tick();
  ASSERT_EQ(client_.exits.size(), 1u);
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_SIGNAL);
  EXPECT_THAT(client_.exits[0].message(),
              HasSubstr("killed by SIGKILL from worker w1: cancelled: user"));
}

TEST_F(WorkerAgentTest, ARankThatStopsWithinTheGraceIsNotKilled) {
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  p->exit_on_sigterm = ExitInfo{ExitInfo::Cause::kSuccess, 0, 0,
                                "exited 0"};  // checkpoint and leave
  v1::HeartbeatResponse r;
  r.add_cancellations()->set_job_id("j");  // epoch 0: any epoch
  client_.heartbeat_script.push_back(r);
  agent().Tick();
  TickEverySecondFor(absl::Seconds(31));
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM));
  ASSERT_EQ(client_.exits.size(), 1u);
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_SUCCESS);
}

TEST_F(WorkerAgentTest, AnAssignmentCancelledInTheSameResponseNeverStarts) {
  v1::HeartbeatResponse r;
  *r.add_assignments() = MakeAssignment("j", 1, 0);
  r.add_cancellations()->set_job_id("j");
  client_.heartbeat_script.push_back(r);
  agent().Tick();
  Assign({MakeAssignment("j", 1, 0)});
  agent().Tick();
  EXPECT_EQ(launcher_.launch_calls, 0);
}

TEST_F(WorkerAgentTest, LeaseNotFoundKillsTheRanksAndReregisters) {
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  client_.heartbeat_script.push_back(
      absl::NotFoundError("lease lease-1 expired"));
  agent().Tick();
  EXPECT_THAT(p->signals, ElementsAre(SIGKILL));
  EXPECT_FALSE(agent().registered());
  EXPECT_TRUE(Logged("lease lease-1 lost"));
  p->KilledBy(SIGKILL, ExitInfo::Cause::kOutOfMemory);
  agent().Tick();
  EXPECT_EQ(client_.registers.size(), 2u);
  EXPECT_EQ(agent().lease_id(), "lease-2");
  ASSERT_EQ(client_.exits.size(),
            1u);  // the coordinator decides whether it still cares
  EXPECT_EQ(client_.exits[0].lease_id(), "lease-2");
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_SIGNAL);
  EXPECT_THAT(client_.exits[0].message(), HasSubstr("lease lost"));
  EXPECT_EQ(client_.heartbeats.back().lease_id(), "lease-2");
  EXPECT_EQ(agent().Stats().leases_lost, 1u);
  EXPECT_EQ(agent().Stats().registrations, 2u);
}

TEST_F(WorkerAgentTest, UnreachableCoordinatorBeyondTheLeaseTtlKillsTheRanks) {
  client_.lease_ttl_millis = 10000;
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  client_.down = true;
  clock_.AdvanceTime(absl::Seconds(5));
  agent().Tick();
  EXPECT_TRUE(p->signals.empty());
  EXPECT_TRUE(agent().registered());
  EXPECT_EQ(agent().NextTickDelay(), absl::Seconds(1));
  clock_.AdvanceTime(
      absl::Seconds(5));  // 10 s since the last heartbeat that got through
  agent().Tick();
  EXPECT_THAT(p->signals, ElementsAre(SIGKILL));
  EXPECT_FALSE(agent().registered());
  EXPECT_TRUE(Logged("no heartbeat succeeded for 10s (lease TTL 10s)"));
  // It keeps trying to register; once back, it reports the exit under the new
  // lease.
  const size_t registers = client_.registers.size();
  p->KilledBy(SIGKILL, ExitInfo::Cause::kOutOfMemory);
  clock_.AdvanceTime(absl::Seconds(1));
  agent().Tick();
  EXPECT_GT(client_.registers.size(), registers);
  client_.down = false;
  clock_.AdvanceTime(absl::Seconds(5));
  agent().Tick();
  EXPECT_TRUE(agent().registered());
  EXPECT_EQ(agent().pending_reports(), 0u);
  EXPECT_EQ(client_.exits.back().lease_id(), "lease-2");
}

TEST_F(WorkerAgentTest, LaunchFailuresAreReportedAsLaunchFailed) {
  launcher_.fail_next = absl::FailedPreconditionError(
      "launch: cannot execute /opt/reca/bin/reca-train: No such file");
  Assign({MakeAssignment("j", 1, 0)});
  agent().Tick();
  ASSERT_EQ(client_.exits.size(), 1u);
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_LAUNCH_FAILED);
  EXPECT_EQ(client_.exits[0].rank(), 0);
  EXPECT_THAT(client_.exits[0].message(), HasSubstr("cannot execute"));
  EXPECT_EQ(agent().live_ranks(), 0u);

  // An assignment that cannot be right never reaches the launcher.
  v1::Assignment bad = MakeAssignment("j", 1, 2, 2);  // rank 2 of 2
  Assign({bad});
  agent().Tick();
  EXPECT_EQ(launcher_.launch_calls, 1);
  ASSERT_EQ(client_.exits.size(), 2u);
  EXPECT_EQ(client_.exits[1].cause(), v1::EXIT_CAUSE_LAUNCH_FAILED);
  EXPECT_THAT(client_.exits[1].message(),
              HasSubstr("rank 2 is not in [0, world_size 2)"));
}

TEST_F(WorkerAgentTest, ShutdownStopsRanksGracefullyAndReportsTheirExits) {
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  p->exit_on_sigterm = ExitInfo{ExitInfo::Cause::kSuccess, 0, 0, "exited 0"};
  std::atomic<bool> stop{true};
  agent().Run(stop);  // stop already requested: straight to Shutdown
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM));
  ASSERT_EQ(client_.exits.size(), 1u);
  EXPECT_EQ(client_.exits[0].cause(), v1::EXIT_CAUSE_SUCCESS);
  // No new ranks while shutting down.
  Assign({MakeAssignment("k", 1, 0)});
  agent().Tick();
  EXPECT_EQ(launcher_.launch_calls, 1);
}

TEST_F(
    WorkerAgentTest,
    ShutdownKillsARankThatOutlivesTheGraceAndGivesUpOnAnUnreachableCoordinator) {
  options_.stop_grace = absl::Seconds(5);
  options_.shutdown_report_timeout = absl::Seconds(3);
  auto p = Start(MakeAssignment("j", 1, 0, 1));
  client_.down = true;
  const absl::Time start = clock_.Now();
  agent().Shutdown();
  EXPECT_THAT(p->signals, ElementsAre(SIGTERM, SIGKILL));
  EXPECT_GE(clock_.Now() - start, absl::Seconds(5));
  EXPECT_LE(clock_.Now() - start,
            absl::Seconds(10));  // it does not wait forever
  EXPECT_TRUE(Logged("shutdown: giving up"));
}

}  // namespace
}  // namespace reca
