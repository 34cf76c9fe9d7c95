// The coordinator's core against fakes: an in-memory store (with a disk-error
// switch) and a fake clock, no server, no sleeping.
#include "coordinator/coordinator.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/failpoint.h"
#include "common/memory_kv_store.h"
#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

const Caller kTrusted = Caller::Trusted();

#define ASSERT_OK_AND_ASSIGN(lhs, expr)            \
  auto lhs##_or = (expr);                          \
  ASSERT_TRUE(lhs##_or.ok()) << lhs##_or.status(); \
  auto lhs = std::move(*lhs##_or)

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(); }

  void Restart() {
    c_.reset();
    CoordinatorOptions options;
    options.runs_root = "/runs";
    options.lease_ttl = absl::Seconds(10);
    options.preempt = preempt_;
    auto c = Coordinator::Create({store_, clock_}, options);
    ASSERT_TRUE(c.ok()) << c.status();
    c_ = std::move(*c);
  }

  std::string Register(const std::string& id, int cpu_slots = 1) {
    v1::RegisterWorkerRequest r;
    r.set_worker_id(id);
    r.set_address("127.0.0.1");
    r.set_cpu_slots(cpu_slots);
    r.set_rendezvous_port_min(29600);
    r.set_rendezvous_port_max(29609);
    auto response = c_->HandleRegisterWorker(r);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->lease_id() : "";
  }

  v1::SubmitJobRequest Request(int ranks, const std::string& request_id = "",
                               int priority = 0) {
    v1::SubmitJobRequest r;
    r.set_request_id(request_id);
    r.mutable_spec()->set_name("tiny");
    r.mutable_spec()->set_steps(10);
    r.mutable_spec()->set_max_restarts(max_restarts_);
    r.mutable_resources()->set_ranks(ranks);
    r.set_priority(priority);
    return r;
  }

  v1::Job Submit(int ranks, const std::string& request_id = "",
                 int priority = 0) {
    auto r = c_->HandleSubmitJob(kTrusted, Request(ranks, request_id, priority));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job() : v1::Job();
  }

  v1::Job Get(const std::string& id) {
    v1::GetJobRequest r;
    r.set_job_id(id);
    auto job = c_->HandleGetJob(kTrusted, r);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->job() : v1::Job();
  }

  static v1::RankStatus Running(const v1::Job& job, int rank,
                                int64_t step = 0) {
    v1::RankStatus s;
    s.set_job_id(job.id());
    s.set_epoch(job.attempt().epoch());
    s.set_rank(rank);
    s.set_running(true);
    if (step > 0) {
      s.mutable_progress()->set_step(step);
      s.mutable_progress()->set_loss(1.0 / step);
      v1::MetricPoint* p = s.add_points();
      p->set_name("loss");
      p->set_step(step);
      p->set_value(1.0 / step);
    }
    return s;
  }

  absl::StatusOr<v1::HeartbeatResponse> Beat(
      const std::string& worker, const std::string& lease,
      std::vector<v1::RankStatus> ranks = {}) {
    v1::HeartbeatRequest r;
    r.set_worker_id(worker);
    r.set_lease_id(lease);
    for (auto& s : ranks) *r.add_ranks() = s;
    return c_->HandleHeartbeat(r);
  }

  absl::Status Exit(const std::string& worker, const std::string& lease,
                    const v1::Job& job, int rank,
                    v1::ExitCause cause = v1::EXIT_CAUSE_SUCCESS,
                    int64_t epoch = -1) {
    v1::ReportExitRequest r;
    r.set_worker_id(worker);
    r.set_lease_id(lease);
    r.set_job_id(job.id());
    r.set_epoch(epoch >= 0 ? epoch : job.attempt().epoch());
    r.set_rank(rank);
    r.set_cause(cause);
    if (cause == v1::EXIT_CAUSE_SIGNAL) r.set_signal(15);
    if (cause == v1::EXIT_CAUSE_ERROR) {
      r.set_exit_code(1);
      r.set_message("reca-train: DATA_LOSS: shard-3.tar: truncated");
    }
    return c_->HandleReportExit(r).status();
  }

  // The steps of the job's listed (recorded, not retired) checkpoints.
  std::vector<int64_t> Listed(const v1::Job& job) {
    v1::ListCheckpointsRequest r;
    r.set_job_id(job.id());
    auto listed = c_->HandleListCheckpoints(kTrusted, r);
    EXPECT_TRUE(listed.ok()) << listed.status();
    std::vector<int64_t> steps;
    if (listed.ok()) {
      for (const v1::Checkpoint& c : listed->checkpoints()) steps.push_back(c.step());
    }
    return steps;
  }

  // Two one-slot workers, a 2-rank job placed on both and started.
  v1::Job StartTwoRankJob() {
    l1_ = Register("w1");
    l2_ = Register("w2");
    v1::Job job = Submit(2);
    EXPECT_EQ(job.state(), v1::SCHEDULED);
    auto a1 = Beat("w1", l1_);
    auto a2 = Beat("w2", l2_);
    EXPECT_EQ(a1->assignments_size(), 1);
    EXPECT_EQ(a2->assignments_size(), 1);
    EXPECT_FALSE(a1->assignments(0).has_resume());  // nothing recorded: from the start
    EXPECT_TRUE(Beat("w1", l1_, {Running(job, 0)}).ok());
    EXPECT_EQ(Get(job.id()).state(), v1::SCHEDULED);  // rank 1 not started yet
    EXPECT_TRUE(Beat("w2", l2_, {Running(job, 1)}).ok());
    return Get(job.id());
  }

  MemoryKvStore store_;
  FakeClock clock_;
  std::unique_ptr<Coordinator> c_;
  std::string l1_, l2_;
  int max_restarts_ = 0;  // spec.max_restarts of submitted jobs (the restart tests set it)
  bool preempt_ = false;  // CoordinatorOptions.preempt (the restart tests set it)
};

// --- the restart policy ------------------------------------------------------

class RestartTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    preempt_ = true;
    CoordinatorTest::SetUp();
    max_restarts_ = 2;
  }

  // Starts every rank of the job's current attempt.
  v1::Job StartAll(const v1::Job& job) {
    for (const v1::Placement& p : job.attempt().placements()) {
      const std::string& lease = p.worker_id() == "w1" ? l1_ : l2_;
      auto beat = Beat(p.worker_id(), lease);
      EXPECT_TRUE(beat.ok()) << beat.status();
      EXPECT_TRUE(Beat(p.worker_id(), lease, {Running(job, p.rank())}).ok());
    }
    return Get(job.id());
  }

  std::vector<std::string> Events(const std::string& id) {
    v1::GetJobRequest r;
    r.set_job_id(id);
    r.set_include_events(true);
    auto response = c_->HandleGetJob(kTrusted, r);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<std::string> out;
    if (response.ok()) {
      for (const v1::JobEvent& e : response->events()) out.push_back(e.message());
    }
    return out;
  }

  bool HasEvent(const std::string& id, const std::string& text) {
    const std::vector<std::string> events = Events(id);
    return std::any_of(events.begin(), events.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  }
};

TEST_F(RestartTest, ACrashedRankRestartsTheGangFromTheLastCheckpoint) {
  v1::Job job = StartTwoRankJob();
  EXPECT_EQ(job.max_restarts(), 2);
  const int64_t first_epoch = job.attempt().epoch();
  v1::ReportCheckpointRequest ck;
  ck.set_worker_id("w1");
  ck.set_lease_id(l1_);
  ck.mutable_checkpoint()->set_job_id(job.id());
  ck.mutable_checkpoint()->set_epoch(first_epoch);
  ck.mutable_checkpoint()->set_step(5);
  ck.mutable_checkpoint()->set_path("/runs/ck/step-5");
  ck.mutable_checkpoint()->set_manifest_sha256("5a5a");
  ASSERT_TRUE(c_->HandleReportCheckpoint(ck).ok());

  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_SIGNAL).ok());
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::RESTARTING);
  EXPECT_EQ(job.restarts(), 1);
  EXPECT_EQ(job.failure_reason(), "signal");
  // The surviving rank is stopped, and holds its slot until it has.
  auto beat = Beat("w1", l1_, {Running(job, 0)});
  ASSERT_EQ(beat->cancellations_size(), 1);
  EXPECT_EQ(beat->assignments_size(), 0);
  ASSERT_TRUE(Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());

  // Queued again and placed at once, under a new epoch; the old one is fenced off.
  job = Get(job.id());
  ASSERT_EQ(job.state(), v1::SCHEDULED);
  EXPECT_GT(job.attempt().epoch(), first_epoch);
  EXPECT_EQ(job.latest_checkpoint_step(), 5);
  ck.mutable_checkpoint()->set_step(6);
  EXPECT_EQ(c_->HandleReportCheckpoint(ck).status().code(), absl::StatusCode::kFailedPrecondition);
  // The new attempt resumes from exactly the recorded checkpoint.
  for (const char* w : {"w1", "w2"}) {
    auto assigned = Beat(w, w == std::string("w1") ? l1_ : l2_);
    ASSERT_EQ(assigned->assignments_size(), 1);
    const v1::Checkpoint& resume = assigned->assignments(0).resume();
    EXPECT_EQ(resume.step(), 5);
    EXPECT_EQ(resume.path(), "/runs/ck/step-5");
    EXPECT_EQ(resume.manifest_sha256(), "5a5a");
  }
  job = StartAll(job);
  EXPECT_EQ(job.state(), v1::RUNNING);
  for (int r = 0; r < 2; ++r) {
    const std::string& w = job.attempt().placements(r).worker_id();
    ASSERT_TRUE(Exit(w, w == "w1" ? l1_ : l2_, job, r).ok());
  }
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);

  EXPECT_TRUE(HasEvent(job.id(), "attempt (epoch " + std::to_string(first_epoch) +
                                      ") failed: rank 1 on w2: killed by signal 15; restart 1 of 2 "
                                      "from its checkpoint at step 5"))
      << testing::PrintToString(Events(job.id()));
  EXPECT_TRUE(HasEvent(job.id(), "queued again (restart 1 of 2)"));
}

TEST_F(RestartTest, AStoppedAttemptsLateMetricsUpToTheResumeCheckpointAreKept) {
  // Rank 1 ran steps 5 and 6 (checkpoint 5), was stopped, and its last
  // heartbeat arrives only after the next attempt was placed.
  v1::Job job = StartTwoRankJob();
  const v1::Job first = job;
  v1::ReportCheckpointRequest ck;
  ck.set_worker_id("w1");
  ck.set_lease_id(l1_);
  ck.mutable_checkpoint()->set_job_id(job.id());
  ck.mutable_checkpoint()->set_epoch(first.attempt().epoch());
  ck.mutable_checkpoint()->set_step(5);
  ck.mutable_checkpoint()->set_path("/runs/ck/step-5");
  ASSERT_TRUE(c_->HandleReportCheckpoint(ck).ok());
  ASSERT_TRUE(Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_SIGNAL).ok());
  job = Get(job.id());
  ASSERT_EQ(job.state(), v1::SCHEDULED);
  ASSERT_GT(job.attempt().epoch(), first.attempt().epoch());
  EXPECT_EQ(job.attempt().resume_step(), 5);

  v1::RankStatus late = Running(first, 1, 5);
  late.set_running(false);
  for (int64_t step : {4, 6}) {
    v1::MetricPoint* p = late.add_points();
    p->set_name("loss");
    p->set_step(step);
    p->set_value(1.0 / step);
  }
  auto beat = Beat("w2", l2_, {late});
  ASSERT_TRUE(beat.ok()) << beat.status();
  ASSERT_EQ(beat->cancellations_size(), 1);
  EXPECT_NE(beat->cancellations(0).reason().find("stale epoch"), std::string::npos);
  // The new attempt's progress is untouched by the old one's.
  EXPECT_EQ(Get(job.id()).progress_size(), 0);

  v1::GetMetricsRequest gm;
  gm.set_job_id(job.id());
  gm.set_rank(1);
  auto metrics = c_->HandleGetMetrics(kTrusted, gm);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  std::vector<int64_t> steps;
  for (const v1::MetricPoint& p : metrics->points()) steps.push_back(p.step());
  std::sort(steps.begin(), steps.end());
  // Steps 4 and 5 are kept; step 6 is re-run (and reported) by the new attempt.
  EXPECT_EQ(steps, (std::vector<int64_t>{4, 5}));
}

TEST_F(RestartTest, RestartsRunOutThenTheJobFails) {
  v1::Job job = StartTwoRankJob();
  for (int attempt = 0; attempt < 3; ++attempt) {
    for (int r = 0; r < 2; ++r) {
      const std::string& w = job.attempt().placements(r).worker_id();
      ASSERT_TRUE(Exit(w, w == "w1" ? l1_ : l2_, job, r, r == 0 ? v1::EXIT_CAUSE_ERROR : v1::EXIT_CAUSE_SIGNAL).ok());
    }
    job = Get(job.id());
    if (attempt < 2) {
      ASSERT_EQ(job.state(), v1::SCHEDULED) << attempt;
      EXPECT_EQ(job.restarts(), attempt + 1);
      job = StartAll(job);
    }
  }
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_EQ(job.restarts(), 2);
  EXPECT_EQ(job.failure_reason(), "error");
  EXPECT_TRUE(HasEvent(job.id(), "(all 2 restarts used)")) << testing::PrintToString(Events(job.id()));
}

TEST_F(RestartTest, FaultsOfTheJobItselfFailAtOnce) {
  // Rank 0 (on w1) ends with `cause`, killed by `signal` (0 = it exited 2).
  auto rank0_ends = [&](const v1::Job& job, v1::ExitCause cause, int signal) {
    v1::ReportExitRequest r;
    r.set_worker_id("w1");
    r.set_lease_id(l1_);
    r.set_job_id(job.id());
    r.set_epoch(job.attempt().epoch());
    r.set_rank(0);
    r.set_cause(cause);
    if (signal > 0) {
      r.set_signal(signal);
    } else {
      r.set_exit_code(2);
    }
    return c_->HandleReportExit(r).status();
  };
  for (const auto& [cause, reason] : std::vector<std::pair<v1::ExitCause, std::string>>{
           {v1::EXIT_CAUSE_INVALID_JOB, "invalid_job"},
           {v1::EXIT_CAUSE_OUT_OF_MEMORY, "out_of_memory"},
           {v1::EXIT_CAUSE_LAUNCH_FAILED, "launch_failed"}}) {
    SCOPED_TRACE(reason);
    Restart();
    v1::Job job = StartTwoRankJob();
    ASSERT_TRUE(rank0_ends(job, cause, 0).ok());
    job = Get(job.id());
    EXPECT_EQ(job.state(), v1::FAILED);
    EXPECT_EQ(job.restarts(), 0);
    EXPECT_EQ(job.failure_reason(), reason);
    EXPECT_TRUE(HasEvent(job.id(), "(" + reason + ": not retried)"));
    ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_SIGNAL).ok());
  }
  // An unrequested SIGKILL may be the OOM killer or a kill -9: retried.
  Restart();
  v1::Job job = StartTwoRankJob();
  ASSERT_TRUE(rank0_ends(job, v1::EXIT_CAUSE_OUT_OF_MEMORY, 9).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::RESTARTING);
}

TEST_F(RestartTest, ALostWorkerRestartsTheJobOnTheFleetThatIsLeft) {
  l1_ = Register("w1", 2);
  l2_ = Register("w2", 1);
  v1::Job job = Submit(2);
  ASSERT_EQ(job.state(), v1::SCHEDULED);
  ASSERT_EQ(job.attempt().placements(0).worker_id(), "w1");
  job = StartAll(job);
  ASSERT_EQ(job.state(), v1::RUNNING);
  // w2 never held a rank; w1 goes silent with both of them.
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceTime(absl::Seconds(5));
    ASSERT_TRUE(Beat("w2", l2_).ok());
    ASSERT_TRUE(c_->Tick().ok());
  }
  job = Get(job.id());
  EXPECT_EQ(job.failure_reason(), "worker_lost");
  EXPECT_EQ(job.restarts(), 1);
  // Its ranks went with w1, so nothing is left to stop: queued again, and
  // waiting for a fleet with 2 slots.
  EXPECT_EQ(job.state(), v1::QUEUED);
  EXPECT_EQ(job.queue_reason(), "needs 2 cpu slots; the fleet has 1 (1 worker with cpu slots)");
  l1_ = Register("w1", 2);
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::SCHEDULED);
}

TEST_F(RestartTest, AWorkerWhereItFailedTwiceIsAvoided) {
  std::map<std::string, std::string> lease;
  for (const char* w : {"w1", "w2", "w3"}) lease[w] = Register(w);
  v1::Job job = Submit(2);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_EQ(job.state(), v1::SCHEDULED) << attempt;
    std::vector<std::string> where;
    for (const v1::Placement& p : job.attempt().placements()) where.push_back(p.worker_id());
    if (attempt < 3) {
      EXPECT_EQ(where, (std::vector<std::string>{"w1", "w2"})) << attempt;
    } else {
      EXPECT_EQ(where, (std::vector<std::string>{"w1", "w3"}));  // w2 failed twice
      break;
    }
    for (const v1::Placement& p : job.attempt().placements()) {
      ASSERT_TRUE(Beat(p.worker_id(), lease[p.worker_id()], {Running(job, p.rank())}).ok());
    }
    ASSERT_TRUE(Exit("w2", lease["w2"], job, 1, v1::EXIT_CAUSE_ERROR).ok());
    ASSERT_TRUE(Exit("w1", lease["w1"], job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
    job = Get(job.id());
  }
  EXPECT_EQ(job.failures_by_worker().at("w2"), 2);
  EXPECT_EQ(job.failures_by_worker().count("w1"), 0u);  // its rank was stopped, not failed
  EXPECT_TRUE(HasEvent(job.id(), "avoiding w2 (failed there repeatedly)"));
}

TEST_F(RestartTest, AJobWithNoStepProgressIsStalledAndRestarted) {
  v1::Job job = StartTwoRankJob();  // the fixture's stall timeout: 10 minutes
  // Steps keep coming for 20 minutes: no alarm.
  for (int minute = 1; minute <= 20; ++minute) {
    clock_.AdvanceTime(absl::Minutes(1));
    ASSERT_TRUE(Beat("w1", l1_, {Running(job, 0, minute)}).ok());
    ASSERT_TRUE(Beat("w2", l2_, {Running(job, 1, minute)}).ok());
    ASSERT_TRUE(c_->Tick().ok());
  }
  ASSERT_EQ(Get(job.id()).state(), v1::RUNNING);
  // Then both ranks stay alive (heartbeats, leases fine) at step 20.
  for (int s = 0; s < 600; s += 5) {
    clock_.AdvanceTime(absl::Seconds(5));
    ASSERT_TRUE(Beat("w1", l1_, {Running(job, 0, 20)}).ok());
    ASSERT_TRUE(Beat("w2", l2_, {Running(job, 1, 20)}).ok());
    ASSERT_TRUE(c_->Tick().ok());
    if (s + 5 < 600) {
      ASSERT_EQ(Get(job.id()).state(), v1::RUNNING) << s;
    }
  }
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::RESTARTING);
  EXPECT_EQ(job.failure_reason(), "stalled");
  EXPECT_EQ(job.failure(), "no rank finished a step for 10m (at step 20): a rank is hung or blocked in a collective");
  // Both ranks are told to stop.
  EXPECT_EQ(Beat("w1", l1_, {Running(job, 0, 20)})->cancellations_size(), 1);
  EXPECT_EQ(Beat("w2", l2_, {Running(job, 1, 20)})->cancellations_size(), 1);
}

TEST_F(RestartTest, AHigherPriorityJobPreemptsALowerOneWhichResumesLater) {
  v1::Job low = StartTwoRankJob();  // priority 0, both slots
  EXPECT_EQ(Submit(1, "", 0).state(), v1::QUEUED);  // the same priority waits
  ASSERT_TRUE(c_->Tick().ok());
  EXPECT_EQ(Get(low.id()).state(), v1::RUNNING);
  EXPECT_EQ(Submit(3, "", 9).state(), v1::QUEUED);  // larger than the fleet: no preemption
  ASSERT_TRUE(c_->Tick().ok());
  EXPECT_EQ(Get(low.id()).state(), v1::RUNNING);

  const v1::Job high = Submit(1, "", 5);
  ASSERT_TRUE(c_->Tick().ok());
  low = Get(low.id());
  ASSERT_EQ(low.state(), v1::RESTARTING);
  EXPECT_EQ(low.preempted_by(), high.id());
  EXPECT_TRUE(HasEvent(low.id(), "preempted by " + high.id() + " (priority 5 > 0): its ranks checkpoint and stop"));
  // Its ranks are told to stop (SIGTERM: they checkpoint) and keep their slots until they exit.
  for (int r = 0; r < 2; ++r) {
    const std::string w = r == 0 ? "w1" : "w2";
    auto beat = Beat(w, r == 0 ? l1_ : l2_, {Running(low, r)});
    ASSERT_EQ(beat->cancellations_size(), 1);
    EXPECT_EQ(beat->cancellations(0).reason(), "preempted by " + high.id());
  }
  EXPECT_EQ(Get(high.id()).state(), v1::QUEUED);
  ASSERT_TRUE(Exit("w1", l1_, low, 0).ok());  // exit 0 after its checkpoint
  ASSERT_TRUE(Exit("w2", l2_, low, 1).ok());
  low = Get(low.id());
  EXPECT_EQ(low.state(), v1::QUEUED);
  EXPECT_EQ(low.restarts(), 0);  // not a restart
  EXPECT_EQ(low.preemptions(), 1);
  EXPECT_TRUE(low.preempted_by().empty());
  EXPECT_TRUE(HasEvent(low.id(), "queued again after preemption 1 (no restart spent)"));
  v1::Job placed = Get(high.id());
  ASSERT_EQ(placed.state(), v1::SCHEDULED);
  // The high-priority job runs and ends; the preempted one is placed again.
  placed = StartAll(placed);
  const std::string& w = placed.attempt().placements(0).worker_id();
  ASSERT_TRUE(Exit(w, w == "w1" ? l1_ : l2_, placed, 0).ok());
  EXPECT_EQ(Get(high.id()).state(), v1::SUCCEEDED);
  EXPECT_EQ(Get(low.id()).state(), v1::SCHEDULED);
}

TEST_F(RestartTest, CancelWhileRestartingStopsIt) {
  v1::Job job = StartTwoRankJob();
  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_ERROR).ok());
  ASSERT_EQ(Get(job.id()).state(), v1::RESTARTING);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  ASSERT_TRUE(c_->HandleCancelJob(kTrusted, cancel).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::RESTARTING);  // rank 0 is still stopping
  ASSERT_TRUE(Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::CANCELLED);
}

TEST_F(RestartTest, ACoordinatorRestartMidRestartFinishesIt) {
  v1::Job job = StartTwoRankJob();
  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_ERROR).ok());
  Restart();  // the coordinator process restarts from its store
  EXPECT_EQ(Get(job.id()).state(), v1::RESTARTING);
  ASSERT_TRUE(Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());  // the loaded leases still hold
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::SCHEDULED);
  EXPECT_EQ(job.restarts(), 1);

  // Killed between recording the last exit and queueing the job again: the
  // next start's Tick queues it.
  job = StartAll(job);
  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_ERROR).ok());
  store_.FailWritesAfter(store_.writes() + 1);  // the exit is written, the requeue is not
  EXPECT_FALSE(Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
  store_.FailWritesAfter(-1);
  Restart();
  ASSERT_EQ(Get(job.id()).state(), v1::RESTARTING);
  ASSERT_TRUE(c_->Tick().ok());
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::SCHEDULED);
  EXPECT_EQ(job.restarts(), 2);
}

// --- checkpoint fencing: one owner decides which checkpoints exist ---------
//
// The chaos run that lost a job (issue 22): attempt A committed step 44 and
// failed; attempt B was placed resuming from step 40 and its rank 0 discarded
// step 44; a late report recorded step 44 anyway, and attempt C was sent to a
// directory that no longer existed. Protocol: a checkpoint carries the epoch
// of the attempt that committed it, and only the job's current attempt records
// checkpoints; so after a placement nothing of an older attempt is recorded,
// and whatever a rank discards above its resume point can never be recorded.

class FencingTest : public RestartTest {
 protected:
  static std::string Path(const v1::Job& job, int64_t step) {
    return absl::StrFormat("/runs/%s/checkpoints/step-%08d", job.id(), step);
  }
  // A checkpoint report from `worker` of `job`'s checkpoint at `step`,
  // committed by the attempt of `epoch`.
  absl::Status Report(const std::string& worker, const v1::Job& job,
                      int64_t step, int64_t epoch) {
    v1::ReportCheckpointRequest ck;
    ck.set_worker_id(worker);
    ck.set_lease_id(worker == "w1" ? l1_ : l2_);
    ck.mutable_checkpoint()->set_job_id(job.id());
    ck.mutable_checkpoint()->set_epoch(epoch);
    ck.mutable_checkpoint()->set_step(step);
    ck.mutable_checkpoint()->set_path(Path(job, step));
    ck.mutable_checkpoint()->set_manifest_sha256(absl::StrCat("sha-e", epoch, "-s", step));
    return c_->HandleReportCheckpoint(ck).status();
  }
  // The resume point each worker's next assignment carries (-1: none).
  std::vector<int64_t> AssignedResumeSteps() {
    std::vector<int64_t> out;
    for (const auto& [w, lease] : {std::pair{"w1", l1_}, std::pair{"w2", l2_}}) {
      auto beat = Beat(w, lease);
      EXPECT_TRUE(beat.ok()) << beat.status();
      if (!beat.ok() || beat->assignments_size() != 1) {
        ADD_FAILURE() << w << ": no assignment";
        continue;
      }
      const v1::Assignment& a = beat->assignments(0);
      out.push_back(a.has_resume() ? a.resume().step() : -1);
      if (a.has_resume()) EXPECT_EQ(a.resume().path(), Path(Get(a.job_id()), a.resume().step()));
    }
    return out;
  }
  // Both ranks of the current attempt end: rank 1 with an error (a peer gone
  // mid all-reduce), rank 0 stopped. The job is placed again at once.
  v1::Job FailAttempt(const v1::Job& job) {
    EXPECT_TRUE(Exit(RankWorker(job, 1), Lease(job, 1), job, 1, v1::EXIT_CAUSE_ERROR).ok());
    EXPECT_TRUE(Exit(RankWorker(job, 0), Lease(job, 0), job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
    v1::Job next = Get(job.id());
    EXPECT_EQ(next.state(), v1::SCHEDULED);
    EXPECT_GT(next.attempt().epoch(), job.attempt().epoch());
    return next;
  }
  static std::string RankWorker(const v1::Job& job, int rank) {
    return job.attempt().placements(rank).worker_id();
  }
  std::string Lease(const v1::Job& job, int rank) {
    return RankWorker(job, rank) == "w1" ? l1_ : l2_;
  }
  absl::Status Unreadable(const v1::Job& job, int rank) {
    v1::ReportExitRequest r;
    r.set_worker_id(RankWorker(job, rank));
    r.set_lease_id(Lease(job, rank));
    r.set_job_id(job.id());
    r.set_epoch(job.attempt().epoch());
    r.set_rank(rank);
    r.set_cause(v1::EXIT_CAUSE_CHECKPOINT_UNREADABLE);
    r.set_exit_code(3);
    r.set_message(absl::StrCat("reca-train: DATA_LOSS: --resume_from: the recorded checkpoint ",
                               Path(job, job.attempt().resume_step()),
                               " cannot be read: NOT_FOUND: MANIFEST.json"));
    return c_->HandleReportExit(r).status();
  }
};

TEST_F(FencingTest, ALateReportOfAnOlderAttemptAfterANewPlacementIsNeverRecorded) {
  v1::Job a = StartTwoRankJob();
  const int64_t ea = a.attempt().epoch();
  ASSERT_TRUE(Report("w1", a, 40, ea).ok());
  // Attempt A commits step 44; its report is late. A fails, B is placed.
  v1::Job b = FailAttempt(a);
  EXPECT_EQ(b.attempt().resume_step(), 40);
  EXPECT_EQ(AssignedResumeSteps(), (std::vector<int64_t>{40, 40}));
  b = StartAll(b);

  // The late report of A's step 44 arrives: refused, whichever worker sends
  // it. B's rank 0 may discard step 44 at any time before or after this.
  absl::Status late = Report("w1", a, 44, ea);
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition) << late;
  EXPECT_NE(late.message().find("stale epoch"), std::string::npos) << late;
  // B's own worker finds A's step 44 on disk before its rank 0 discarded it,
  // and reports it with the epoch in its manifest: refused too. Step 40 again
  // (the same manifest) is a harmless repeat.
  EXPECT_EQ(Report(RankWorker(b, 0), a, 44, ea).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Report(RankWorker(b, 0), a, 40, ea).ok());
  EXPECT_EQ(Listed(b), (std::vector<int64_t>{40}));
  EXPECT_EQ(Get(b.id()).latest_checkpoint_step(), 40);

  // B fails too: C resumes from 40, not from the discarded 44.
  v1::Job c = FailAttempt(StartAll(Get(b.id())));
  EXPECT_EQ(c.attempt().resume_step(), 40);
  EXPECT_EQ(AssignedResumeSteps(), (std::vector<int64_t>{40, 40}));
  // C's own step 44 is a new checkpoint, recorded.
  c = StartAll(c);
  ASSERT_TRUE(Report(RankWorker(c, 0), c, 44, c.attempt().epoch()).ok());
  EXPECT_EQ(Listed(c), (std::vector<int64_t>{40, 44}));
  EXPECT_EQ(Get(c.id()).latest_checkpoint_step(), 44);
  // And a coordinator restart changes none of it.
  Restart();
  EXPECT_EQ(Report("w1", a, 48, ea).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Listed(c), (std::vector<int64_t>{40, 44}));
}

TEST_F(FencingTest, AnOlderAttemptsReportBeforeTheNextPlacementIsRecorded) {
  v1::Job a = StartTwoRankJob();
  const int64_t ea = a.attempt().epoch();
  ASSERT_TRUE(Report("w1", a, 40, ea).ok());
  // Rank 1 fails; rank 0 commits step 44 as it stops (SIGTERM) and the worker
  // reports it before the exit: the job is not placed yet, so it counts.
  ASSERT_TRUE(Exit(RankWorker(a, 1), Lease(a, 1), a, 1, v1::EXIT_CAUSE_ERROR).ok());
  ASSERT_EQ(Get(a.id()).state(), v1::RESTARTING);
  ASSERT_TRUE(Report(RankWorker(a, 0), a, 44, ea).ok());
  ASSERT_TRUE(Exit(RankWorker(a, 0), Lease(a, 0), a, 0, v1::EXIT_CAUSE_SUCCESS).ok());
  v1::Job b = Get(a.id());
  ASSERT_EQ(b.state(), v1::SCHEDULED);
  EXPECT_EQ(b.attempt().resume_step(), 44);
  EXPECT_EQ(AssignedResumeSteps(), (std::vector<int64_t>{44, 44}));
}

TEST_F(FencingTest, AnUnreadableRecordedCheckpointFallsBackToTheNewestEarlierOne) {
  v1::Job a = StartTwoRankJob();
  const int64_t ea = a.attempt().epoch();
  ASSERT_TRUE(Report("w1", a, 20, ea).ok());
  ASSERT_TRUE(Report("w1", a, 40, ea).ok());
  v1::Job b = StartAll(FailAttempt(a));
  const int restarts = b.restarts();
  ASSERT_EQ(b.attempt().resume_step(), 40);

  // Step 40's directory is gone: B's rank 0 says so (reca-train exit 3).
  ASSERT_TRUE(Unreadable(b, 0).ok());
  v1::Job job = Get(b.id());
  EXPECT_EQ(job.state(), v1::RESTARTING);  // not FAILED: not the job's fault
  EXPECT_EQ(job.restarts(), restarts);     // no restart spent
  EXPECT_EQ(job.failure_reason(), "checkpoint_unreadable");
  EXPECT_EQ(job.unusable_checkpoints(), 1);
  EXPECT_EQ(job.latest_checkpoint_step(), 20);
  EXPECT_TRUE(HasEvent(job.id(), absl::StrCat(
      "attempt (epoch ", b.attempt().epoch(), ") could not resume from its checkpoint at step 40 (")))
      << testing::PrintToString(Events(job.id()));
  EXPECT_TRUE(HasEvent(job.id(), "the job restarts from its checkpoint at step 20"));
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{20}));  // 40 is unusable
  EXPECT_EQ(c_->Snapshot().checkpoints_unreadable, 1);
  ASSERT_TRUE(Exit(RankWorker(b, 1), Lease(b, 1), b, 1, v1::EXIT_CAUSE_SIGNAL).ok());
  v1::Job c = Get(b.id());
  ASSERT_EQ(c.state(), v1::SCHEDULED);
  EXPECT_EQ(AssignedResumeSteps(), (std::vector<int64_t>{20, 20}));

  // Step 20 fails verification too: from the base, and still no restart spent.
  c = StartAll(c);
  ASSERT_TRUE(Unreadable(c, 1).ok());
  ASSERT_TRUE(Exit(RankWorker(c, 0), Lease(c, 0), c, 0, v1::EXIT_CAUSE_SIGNAL).ok());
  v1::Job d = Get(c.id());
  ASSERT_EQ(d.state(), v1::SCHEDULED);
  EXPECT_EQ(d.restarts(), restarts);
  EXPECT_EQ(d.latest_checkpoint_step(), -1);
  EXPECT_TRUE(HasEvent(d.id(), "the job restarts from its base (no earlier checkpoint)"));
  EXPECT_EQ(AssignedResumeSteps(), (std::vector<int64_t>{-1, -1}));
  EXPECT_TRUE(Listed(d).empty());

  // The next attempt commits its own step 20 and 40: recorded over the unusable ones.
  d = StartAll(d);
  ASSERT_TRUE(Report(RankWorker(d, 0), d, 20, d.attempt().epoch()).ok());
  ASSERT_TRUE(Report(RankWorker(d, 0), d, 40, d.attempt().epoch()).ok());
  EXPECT_EQ(Listed(d), (std::vector<int64_t>{20, 40}));
  EXPECT_EQ(Get(d.id()).latest_checkpoint_step(), 40);
  // After a coordinator restart: the count stays, and no worker is asked to
  // delete anything (the unusable directories were discarded by rank 0).
  Restart();
  EXPECT_EQ(c_->Snapshot().checkpoints_unreadable, 2);
  auto beat = Beat("w1", l1_);
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->delete_checkpoints_size(), 0);
  for (int r = 0; r < 2; ++r) ASSERT_TRUE(Exit(RankWorker(d, r), Lease(d, r), d, r).ok());
  EXPECT_EQ(Get(d.id()).state(), v1::SUCCEEDED);
}

TEST_F(CoordinatorTest, SubmitValidatesWithFieldPaths) {
  v1::SubmitJobRequest r = Request(1);
  r.mutable_spec()->mutable_optimizer()->set_lr(0);
  absl::Status s = c_->HandleSubmitJob(kTrusted, r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.optimizer.lr: must be > 0"),
            std::string::npos)
      << s;

  r = Request(0);
  r.mutable_resources()->set_ranks(-1);
  s = c_->HandleSubmitJob(kTrusted, r).status();
  EXPECT_NE(s.message().find("resources.ranks"), std::string::npos) << s;

  r = Request(1);
  r.mutable_spec()->mutable_model()->set_init("job:job-00000042");
  s = c_->HandleSubmitJob(kTrusted, r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.model.init: job:job-00000042: no such job"),
            std::string::npos)
      << s;

  // Issue 22, from a reflection client: no spec at all is a client bug, not
  // a default 1000-step job (an empty spec is every default on purpose).
  s = c_->HandleSubmitJob(kTrusted, v1::SubmitJobRequest()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "spec: required (an empty spec, {}, takes every default)");
  r = Request(1);
  r.clear_spec();
  EXPECT_EQ(c_->HandleSubmitJob(kTrusted, r).status().message(),
            "spec: required (an empty spec, {}, takes every default)");
  r = Request(1);
  r.mutable_spec()->set_steps(std::numeric_limits<int64_t>::max());
  s = c_->HandleSubmitJob(kTrusted, r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "spec.steps: must be in [1, 100000000]");
  r = Request(1);
  r.mutable_spec()->set_name(std::string(100 << 10, 'n'));  // under --max_spec_bytes
  EXPECT_EQ(c_->HandleSubmitJob(kTrusted, r).status().message(),
            "spec.name: 102400 bytes, more than the limit of 128");
  r = Request(1, std::string(129, 'r'));
  EXPECT_EQ(c_->HandleSubmitJob(kTrusted, r).status().message(),
            "request_id: 129 bytes, more than the limit of 128");
  r = Request(1);
  r.set_owner(std::string(100 << 10, 'o'));
  EXPECT_EQ(c_->HandleSubmitJob(kTrusted, r).status().message(),
            "owner: 102400 bytes, more than the limit of 128");
  // Each field within its bounds, the job's product is not: 1e8 steps x
  // 65536 x 4 batches (the default sources) x 1024 ranks.
  r = Request(1024);
  r.mutable_spec()->set_steps(100000000);
  r.mutable_spec()->set_batch_per_rank(65536);
  s = c_->HandleSubmitJob(kTrusted, r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "spec.steps: 100000000 steps x 262144 samples per rank per step x "
            "1024 ranks = 26843545600000000 samples, more than the limit of "
            "9007199254740992 (2^53) for one job; fewer steps or a smaller batch");
  r.mutable_resources()->set_ranks(1);
  r.set_validate_only(true);
  EXPECT_TRUE(c_->HandleSubmitJob(kTrusted, r).ok());
  // Nothing refused was stored.
  EXPECT_EQ(c_->HandleListJobs(kTrusted, v1::ListJobsRequest())->jobs_size(), 0);
}

TEST_F(CoordinatorTest, LookupsAndFiltersAreBounded) {
  v1::GetJobRequest get;
  get.set_job_id(std::string(100 << 10, 'j'));
  absl::Status s = c_->HandleGetJob(kTrusted, get).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "job_id: 102400 bytes, more than the limit of 128");
  v1::ListJobsRequest list;
  list.set_name_prefix(std::string(129, 'p'));
  EXPECT_EQ(c_->HandleListJobs(kTrusted, list).status().message(),
            "name_prefix: 129 bytes, more than the limit of 128");
  list.set_name_prefix(std::string(128, 'p'));  // the longest job name: fine
  EXPECT_TRUE(c_->HandleListJobs(kTrusted, list).ok());
  list.set_page_token(std::string(1000, 't'));
  EXPECT_EQ(c_->HandleListJobs(kTrusted, list).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Job job = Submit(1);
  v1::GetMetricsRequest metrics;
  metrics.set_job_id(job.id());
  metrics.add_names(std::string(257, 'm'));
  EXPECT_EQ(c_->HandleGetMetrics(kTrusted, metrics).status().message(),
            "names[0]: 257 bytes, more than the limit of 256");
}

TEST_F(CoordinatorTest, IdempotentSubmitReturnsTheSameJob) {
  auto first = c_->HandleSubmitJob(kTrusted, Request(1, "req-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created());
  auto again = c_->HandleSubmitJob(kTrusted, Request(1, "req-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created());
  EXPECT_EQ(again->job().id(), first->job().id());
  // Survives a restart.
  Restart();
  again = c_->HandleSubmitJob(kTrusted, Request(1, "req-1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->job().id(), first->job().id());
  // The same id for a different request is a client bug.
  EXPECT_EQ(c_->HandleSubmitJob(kTrusted, Request(2, "req-1")).status().code(),
            absl::StatusCode::kAlreadyExists);
  v1::ListJobsRequest list;
  EXPECT_EQ(c_->HandleListJobs(kTrusted, list)->jobs_size(), 1);
}

TEST_F(CoordinatorTest, QueuedWithAReasonUntilTheFleetFits) {
  v1::Job job = Submit(2);
  EXPECT_EQ(job.state(), v1::QUEUED);
  EXPECT_EQ(job.queue_reason(),
            "needs 2 cpu slots; the fleet has 0 (0 workers with cpu slots)");
  const std::string l1 = Register("w1");
  EXPECT_EQ(Get(job.id()).queue_reason(),
            "needs 2 cpu slots; the fleet has 1 (1 worker with cpu slots)");
  Register("w2");
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::SCHEDULED);
  ASSERT_EQ(job.attempt().placements_size(), 2);
  EXPECT_EQ(job.attempt().placements(0).worker_id(), "w1");
  EXPECT_EQ(job.attempt().placements(1).worker_id(), "w2");
  EXPECT_EQ(job.attempt().master_addr(), "127.0.0.1");
  EXPECT_GE(job.attempt().master_port(), 29600);
  EXPECT_LE(job.attempt().master_port(), 29609);
  // The assignment carries everything a rank needs.
  auto beat = Beat("w1", l1);
  ASSERT_TRUE(beat.ok());
  ASSERT_EQ(beat->assignments_size(), 1);
  const v1::Assignment& a = beat->assignments(0);
  EXPECT_EQ(a.rank(), 0);
  EXPECT_EQ(a.world_size(), 2);
  EXPECT_EQ(a.epoch(), job.attempt().epoch());
  EXPECT_EQ(a.output_dir(), "/runs/" + job.id());
  EXPECT_EQ(a.spec().steps(), 10);
}

TEST_F(CoordinatorTest, JobRunsToSuccessAndFreesItsSlots) {
  v1::Job job = StartTwoRankJob();
  EXPECT_EQ(job.state(), v1::RUNNING);
  v1::Job next = Submit(2);
  EXPECT_EQ(next.queue_reason(), "waiting for 2 free cpu slots (0 free now)");

  ASSERT_TRUE(Beat("w1", l1_, {Running(job, 0, 5)}).ok());
  job = Get(job.id());
  ASSERT_GE(job.progress_size(), 1);
  EXPECT_EQ(job.progress(0).step(), 5);

  v1::ReportCheckpointRequest ck;
  ck.set_worker_id("w1");
  ck.set_lease_id(l1_);
  ck.mutable_checkpoint()->set_job_id(job.id());
  ck.mutable_checkpoint()->set_epoch(job.attempt().epoch());
  ck.mutable_checkpoint()->set_step(10);
  ck.mutable_checkpoint()->set_path("/runs/x/checkpoints/step-00000010");
  ck.mutable_checkpoint()->set_bytes(1000);
  ASSERT_TRUE(c_->HandleReportCheckpoint(ck).ok());
  ASSERT_TRUE(c_->HandleReportCheckpoint(ck).ok());  // a retry is harmless

  ASSERT_TRUE(Exit("w1", l1_, job, 0).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::RUNNING);
  ASSERT_TRUE(Exit("w2", l2_, job, 1).ok());
  ASSERT_TRUE(Exit("w2", l2_, job, 1).ok());  // a retried report
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::SUCCEEDED);
  EXPECT_EQ(job.latest_checkpoint_step(), 10);
  EXPECT_EQ(Get(next.id()).state(),
            v1::SCHEDULED);  // the slots went to the next job

  v1::ListCheckpointsRequest lc;
  lc.set_job_id(job.id());
  auto checkpoints = c_->HandleListCheckpoints(kTrusted, lc);
  ASSERT_EQ(checkpoints->checkpoints_size(), 1);
  EXPECT_EQ(checkpoints->checkpoints(0).path(),
            "/runs/x/checkpoints/step-00000010");

  v1::GetMetricsRequest gm;
  gm.set_job_id(job.id());
  gm.set_rank(-1);
  auto metrics = c_->HandleGetMetrics(kTrusted, gm);
  ASSERT_EQ(metrics->points_size(), 1);
  EXPECT_EQ(metrics->points(0).name(), "loss");
  EXPECT_DOUBLE_EQ(metrics->points(0).value(), 0.2);

  // A new job can start from this one's last checkpoint.
  v1::SubmitJobRequest r = Request(1);
  r.mutable_spec()->mutable_model()->set_init("job:" + job.id());
  auto followup = c_->HandleSubmitJob(kTrusted, r);
  ASSERT_TRUE(followup.ok()) << followup.status();
  EXPECT_EQ(followup->job().spec().model().init(),
            "/runs/x/checkpoints/step-00000010");

  v1::GetJobRequest g;
  g.set_job_id(job.id());
  g.set_include_events(true);
  auto events = c_->HandleGetJob(kTrusted, g);
  ASSERT_GE(events->events_size(), 5);
  EXPECT_EQ(events->events(0).state(), v1::QUEUED);
  EXPECT_EQ(events->events(events->events_size() - 1).state(), v1::SUCCEEDED);
}

TEST_F(CoordinatorTest, ARankFailureFailsTheJobAndStopsTheOtherRanks) {
  v1::Job job = StartTwoRankJob();
  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_ERROR).ok());
  job = Get(job.id());
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(
      job.failure().find("rank 1 on w2: error (exit 1): reca-train: DATA_LOSS"),
      std::string::npos)
      << job.failure();
  auto beat = Beat("w1", l1_, {Running(job, 0)});
  ASSERT_EQ(beat->cancellations_size(), 1);
  EXPECT_EQ(beat->cancellations(0).job_id(), job.id());
  // Rank 0 still holds its slot until it has stopped.
  v1::Job next = Submit(2);
  EXPECT_EQ(next.state(), v1::QUEUED);
  ASSERT_TRUE(Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
  EXPECT_EQ(Get(next.id()).state(), v1::SCHEDULED);
  EXPECT_EQ(Get(job.id()).state(), v1::FAILED);
}

TEST_F(CoordinatorTest, StaleEpochReportsAreRejected) {
  v1::Job job = StartTwoRankJob();
  const int64_t stale = job.attempt().epoch() - 1;
  absl::Status s = Exit("w1", l1_, job, 0, v1::EXIT_CAUSE_ERROR, stale);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("stale epoch"), std::string::npos);
  EXPECT_EQ(Get(job.id()).state(), v1::RUNNING);

  v1::ReportCheckpointRequest ck;
  ck.set_worker_id("w1");
  ck.set_lease_id(l1_);
  ck.mutable_checkpoint()->set_job_id(job.id());
  ck.mutable_checkpoint()->set_epoch(stale);
  ck.mutable_checkpoint()->set_step(5);
  ck.mutable_checkpoint()->set_path("/zombie");
  EXPECT_EQ(c_->HandleReportCheckpoint(ck).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(job.id()).latest_checkpoint_step(), -1);

  // A rank of a stale epoch that is still running is told to stop.
  v1::RankStatus zombie = Running(job, 0);
  zombie.set_epoch(stale);
  auto beat = Beat("w1", l1_, {zombie});
  ASSERT_EQ(beat->cancellations_size(), 1);
  EXPECT_NE(beat->cancellations(0).reason().find("stale epoch"),
            std::string::npos);
}

TEST_F(CoordinatorTest, LeaseExpiryFailsTheJobsOfTheLostWorker) {
  v1::Job job = StartTwoRankJob();
  clock_.AdvanceTime(absl::Seconds(6));
  ASSERT_TRUE(
      Beat("w1", l1_, {Running(job, 0)}).ok());  // w1 renews, w2 stays silent
  clock_.AdvanceTime(absl::Seconds(3));
  ASSERT_TRUE(c_->Tick().ok());
  EXPECT_EQ(Get(job.id()).state(),
            v1::RUNNING);  // 9 s since w2's last heartbeat: within its 10 s TTL
  clock_.AdvanceTime(absl::Seconds(2));
  ASSERT_TRUE(c_->Tick().ok());
  job = Get(job.id());
  ASSERT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.failure().find("worker w2 lost: no heartbeat for 10s (rank 1)"),
            std::string::npos)
      << job.failure();
  // w2's heartbeats are refused; w1 is told to stop its rank.
  EXPECT_EQ(Beat("w2", l2_).status().code(), absl::StatusCode::kNotFound);
  auto beat = Beat("w1", l1_, {Running(job, 0)});
  EXPECT_EQ(beat->cancellations_size(), 1);
  EXPECT_EQ(c_->Workers().size(), 1u);
}

TEST_F(CoordinatorTest, CancelQueuedAndRunningJobs) {
  v1::Job queued = Submit(1);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(queued.id());
  ASSERT_EQ(c_->HandleCancelJob(kTrusted, cancel)->job().state(), v1::CANCELLED);

  v1::Job job = StartTwoRankJob();
  cancel.set_job_id(job.id());
  auto r = c_->HandleCancelJob(kTrusted, cancel);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->job().cancel_requested());
  EXPECT_EQ(r->job().state(), v1::RUNNING);
  EXPECT_EQ(Beat("w1", l1_, {Running(job, 0)})->cancellations_size(), 1);
  ASSERT_TRUE(Exit("w1", l1_, job, 0).ok());  // SIGTERM: checkpoint, exit 0
  ASSERT_TRUE(Exit("w2", l2_, job, 1, v1::EXIT_CAUSE_SIGNAL).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::CANCELLED);
  cancel.set_job_id("job-nope");
  EXPECT_EQ(c_->HandleCancelJob(kTrusted, cancel).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest,
       ARankThatStartsAfterItsJobEndedHoldsItsSlotUntilItStops) {
  const std::string lease = Register("w1");
  v1::Job job = Submit(1);
  ASSERT_EQ(job.state(), v1::SCHEDULED);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  ASSERT_EQ(c_->HandleCancelJob(kTrusted, cancel)->job().state(),
            v1::CANCELLED);  // no rank had started
  v1::Job next = Submit(1);
  ASSERT_EQ(next.state(), v1::SCHEDULED);
  cancel.set_job_id(next.id());
  ASSERT_TRUE(c_->HandleCancelJob(kTrusted, cancel).ok());
  // The worker had launched the first job's rank before the cancel reached it.
  auto beat = Beat("w1", lease, {Running(job, 0)});
  ASSERT_EQ(beat->cancellations_size(), 1);
  v1::Job third = Submit(1);
  EXPECT_EQ(third.state(), v1::QUEUED);  // the late rank still has the slot
  ASSERT_TRUE(Exit("w1", lease, job, 0, v1::EXIT_CAUSE_SIGNAL).ok());
  EXPECT_EQ(Get(third.id()).state(), v1::SCHEDULED);
}

TEST_F(CoordinatorTest, RestartLosesNothingAcknowledged) {
  v1::Job running = StartTwoRankJob();
  v1::Job queued = Submit(2, "", 5);
  v1::Job too_big = Submit(3);
  Restart();
  EXPECT_EQ(Get(running.id()).state(), v1::RUNNING);
  EXPECT_EQ(Get(running.id()).attempt().epoch(), running.attempt().epoch());
  EXPECT_EQ(Get(queued.id()).state(), v1::QUEUED);
  EXPECT_EQ(Get(queued.id()).priority(), 5);
  EXPECT_EQ(Get(too_big.id()).state(), v1::QUEUED);
  // Leases survive too (with a fresh TTL): the running job carries on.
  ASSERT_TRUE(Beat("w1", l1_, {Running(running, 0)}).ok());
  ASSERT_TRUE(Exit("w1", l1_, running, 0).ok());
  ASSERT_TRUE(Exit("w2", l2_, running, 1).ok());
  EXPECT_EQ(Get(running.id()).state(), v1::SUCCEEDED);
  EXPECT_EQ(Get(queued.id()).state(), v1::SCHEDULED);
  // Counters continue: no id or epoch is reused.
  v1::Job fresh = Submit(1);
  EXPECT_GT(fresh.id(), too_big.id());
  EXPECT_GT(Get(queued.id()).attempt().epoch(), running.attempt().epoch());
}

TEST_F(CoordinatorTest, AFailedWriteChangesNothing) {
  v1::Job job = Submit(1);
  store_.FailWritesAfter(store_.writes());
  absl::Status s = c_->HandleSubmitJob(kTrusted, Request(1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  EXPECT_FALSE(c_->HandleCancelJob(kTrusted, cancel).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::QUEUED);
  store_.FailWritesAfter(-1);
  EXPECT_EQ(c_->HandleListJobs(kTrusted, v1::ListJobsRequest())->jobs_size(), 1);
  Restart();
  EXPECT_EQ(c_->HandleListJobs(kTrusted, v1::ListJobsRequest())->jobs_size(), 1);
  EXPECT_EQ(Submit(1).id(), "job-00000002");
}

TEST_F(CoordinatorTest, ListJobsFiltersAndPages) {
  for (int i = 0; i < 5; ++i) Submit(1);
  v1::CancelJobRequest cancel;
  cancel.set_job_id("job-00000002");
  ASSERT_TRUE(c_->HandleCancelJob(kTrusted, cancel).ok());
  v1::ListJobsRequest r;
  r.set_page_size(2);
  std::vector<std::string> ids;
  for (int page = 0; page < 10; ++page) {
    auto response = c_->HandleListJobs(kTrusted, r);
    ASSERT_TRUE(response.ok());
    for (const auto& j : response->jobs()) ids.push_back(j.id());
    if (response->next_page_token().empty()) break;
    r.set_page_token(response->next_page_token());
  }
  EXPECT_EQ(ids.size(), 5u);
  r.Clear();
  r.add_states(v1::CANCELLED);
  auto cancelled = c_->HandleListJobs(kTrusted, r);
  ASSERT_EQ(cancelled->jobs_size(), 1);
  EXPECT_EQ(cancelled->jobs(0).id(), "job-00000002");
}

TEST_F(CoordinatorTest, WatchSeesEveryChangeUntilCancelled) {
  v1::Job job = Submit(1);
  std::vector<v1::WatchJobResponse> updates;
  v1::WatchJobRequest w;
  w.set_job_id(job.id());
  auto id = c_->HandleWatchJob(kTrusted, 
      w, [&](const v1::WatchJobResponse& u) { updates.push_back(u); });
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].events_size(), 1);  // "submitted"
  const std::string lease = Register("w1");
  ASSERT_TRUE(Beat("w1", lease, {}).ok());
  job = Get(job.id());
  ASSERT_TRUE(Beat("w1", lease, {Running(job, 0, 3)}).ok());
  ASSERT_TRUE(Exit("w1", lease, job, 0).ok());
  EXPECT_EQ(updates.back().job().state(), v1::SUCCEEDED);
  std::vector<v1::JobState> states;
  for (const auto& u : updates) {
    for (const auto& e : u.events()) states.push_back(e.state());
  }
  EXPECT_EQ(states,
            (std::vector<v1::JobState>{v1::QUEUED, v1::SCHEDULED, v1::RUNNING,
                                       v1::RUNNING, v1::SUCCEEDED}));
  c_->CancelWatch(*id);
  const size_t n = updates.size();
  Submit(1);
  EXPECT_EQ(updates.size(), n);
}

TEST_F(CoordinatorTest, PriorityOrdersTheQueueAndGangsAreNotStarved) {
  const std::string lease = Register("w1", 2);
  v1::Job running = Submit(2);
  ASSERT_EQ(running.state(), v1::SCHEDULED);
  v1::Job b = Submit(1);
  v1::Job c = Submit(1);
  EXPECT_EQ(Get(b.id()).queue_reason(),
            "waiting for 1 free cpu slots (0 free now)");
  EXPECT_EQ(Get(c.id()).queue_reason(), "behind " + b.id() + " in the queue");
  v1::Job urgent = Submit(2, "", 5);  // jumps ahead of b and c
  EXPECT_EQ(Get(urgent.id()).queue_reason(),
            "waiting for 2 free cpu slots (0 free now)");
  EXPECT_EQ(Get(b.id()).queue_reason(),
            "behind " + urgent.id() + " in the queue");
  running = Get(running.id());
  ASSERT_TRUE(Exit("w1", lease, running, 0).ok());
  EXPECT_EQ(Get(urgent.id()).state(), v1::QUEUED);  // rank 1 still holds a slot
  EXPECT_EQ(Get(b.id()).state(), v1::QUEUED);       // no backfill past the gang
  ASSERT_TRUE(Exit("w1", lease, running, 1).ok());
  EXPECT_EQ(Get(urgent.id()).state(), v1::SCHEDULED);
  EXPECT_EQ(Get(b.id()).queue_reason(),
            "waiting for 1 free cpu slots (0 free now)");
}

TEST_F(CoordinatorTest, GpuRanksGetDistinctDevicesOnTheirWorker) {
  v1::RegisterWorkerRequest r;
  r.set_worker_id("g1");
  r.set_address("10.0.0.5");
  r.set_gpu_slots(4);
  r.set_rendezvous_port_min(29600);
  r.set_rendezvous_port_max(29609);
  ASSERT_TRUE(c_->HandleRegisterWorker(r).ok());
  v1::SubmitJobRequest two = Request(2);
  two.mutable_resources()->set_accelerator(v1::GPU);
  v1::SubmitJobRequest one = Request(1);
  one.mutable_resources()->set_accelerator(v1::GPU);
  auto a = c_->HandleSubmitJob(kTrusted, two);
  auto b = c_->HandleSubmitJob(kTrusted, one);
  ASSERT_TRUE(a.ok() && b.ok());
  v1::Job ja = Get(a->job().id()), jb = Get(b->job().id());
  ASSERT_EQ(ja.state(), v1::SCHEDULED);
  ASSERT_EQ(jb.state(), v1::SCHEDULED);
  EXPECT_EQ(ja.attempt().placements(0).gpu_index(), 0);
  EXPECT_EQ(ja.attempt().placements(1).gpu_index(), 1);
  EXPECT_EQ(jb.attempt().placements(0).gpu_index(), 2);
  EXPECT_EQ(ja.attempt().master_addr(), "10.0.0.5");
  // A CPU job does not fit on a GPU-only worker.
  EXPECT_EQ(Submit(1).queue_reason(),
            "needs 1 cpu slots; the fleet has 0 (0 workers with cpu slots)");
}

v1::ReportScoresRequest Scores(const v1::EvalTask& task,
                               const std::string& evaluator, double overall) {
  v1::ReportScoresRequest r;
  r.set_evaluator_id(evaluator);
  r.set_claim_id(task.claim_id());
  r.set_job_id(task.job_id());
  r.set_step(task.step());
  for (const std::string& suite : task.suites()) {
    v1::EvalScore* score = r.add_scores();
    score->set_suite(suite);
    (*score->mutable_values())[suite == "recon" ? "psnr" : "overall"] = overall;
  }
  return r;
}

TEST_F(CoordinatorTest, EvaluationsCoverBaseCheckpointsAndLastOnceEach) {
  const std::string lease = Register("w1");
  v1::SubmitJobRequest r = Request(1);
  r.mutable_spec()->mutable_model()->set_init("/weights/base.safetensors");
  r.mutable_spec()->mutable_eval()->add_suites("shapes_eval");
  r.mutable_spec()->mutable_eval()->add_suites("recon");
  r.mutable_spec()->mutable_eval()->set_every_n_checkpoints(2);
  v1::Job job = c_->HandleSubmitJob(kTrusted, r)->job();

  v1::ClaimEvaluationRequest claim;
  claim.set_evaluator_id("e1");
  auto base = c_->HandleClaimEvaluation(claim);
  ASSERT_TRUE(base.ok() && base->has_task());
  EXPECT_EQ(base->task().step(), 0);
  EXPECT_EQ(base->task().checkpoint_path(), "/weights/base.safetensors");
  EXPECT_EQ(base->task().suites_size(), 2);
  EXPECT_EQ(base->task().output_dir(),
            "/runs/" + job.id() + "/eval/step-00000000");
  EXPECT_FALSE(
      c_->HandleClaimEvaluation(claim)->has_task());  // nothing else yet

  // The evaluator dies: its claim expires (60 s) and another takes the task.
  for (int i = 0; i < 13; ++i) {  // the worker keeps its lease meanwhile
    clock_.AdvanceTime(absl::Seconds(5));
    ASSERT_TRUE(Beat("w1", lease).ok());
    ASSERT_TRUE(c_->Tick().ok());
  }
  claim.set_evaluator_id("e2");
  auto again = c_->HandleClaimEvaluation(claim);
  ASSERT_TRUE(again->has_task());
  EXPECT_EQ(again->task().step(), 0);
  v1::RenewClaimRequest renew;
  renew.set_evaluator_id("e1");
  renew.set_claim_id(base->task().claim_id());
  EXPECT_EQ(c_->HandleRenewClaim(renew).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(c_->HandleReportScores(Scores(again->task(), "e2", 0.25)).ok());
  // A zombie's late report of the same checkpoint is acknowledged and ignored.
  ASSERT_TRUE(c_->HandleReportScores(Scores(base->task(), "e1", 0.99)).ok());

  // Checkpoints 1..3 committed: the 2nd is scored (every 2), then the last
  // (3rd) once the job has succeeded.
  job = Get(job.id());
  ASSERT_TRUE(Beat("w1", lease, {Running(job, 0)}).ok());
  for (int step : {10, 20, 30}) {
    v1::ReportCheckpointRequest ck;
    ck.set_worker_id("w1");
    ck.set_lease_id(lease);
    ck.mutable_checkpoint()->set_job_id(job.id());
    ck.mutable_checkpoint()->set_epoch(job.attempt().epoch());
    ck.mutable_checkpoint()->set_step(step);
    ck.mutable_checkpoint()->set_path("/ck/" + std::to_string(step));
    ASSERT_TRUE(c_->HandleReportCheckpoint(ck).ok());
  }
  auto second = c_->HandleClaimEvaluation(claim);
  ASSERT_TRUE(second->has_task());
  EXPECT_EQ(second->task().step(), 20);
  EXPECT_FALSE(c_->HandleClaimEvaluation(claim)->has_task());
  ASSERT_TRUE(Exit("w1", lease, job, 0).ok());
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);
  auto last = c_->HandleClaimEvaluation(claim);
  ASSERT_TRUE(last->has_task());
  EXPECT_EQ(last->task().step(), 30);
  ASSERT_TRUE(c_->HandleReportScores(Scores(second->task(), "e2", 0.5)).ok());

  // A restart loses no pending evaluation (claims are handed out again).
  Restart();
  claim.set_evaluator_id("e3");
  auto after = c_->HandleClaimEvaluation(claim);
  ASSERT_TRUE(after->has_task());
  EXPECT_EQ(after->task().step(), 30);
  v1::ReportScoresRequest failed;
  failed.set_evaluator_id("e3");
  failed.set_claim_id(after->task().claim_id());
  failed.set_job_id(job.id());
  failed.set_step(30);
  failed.set_error("reca-eval: NOT_FOUND: /ck/30: no such checkpoint");
  ASSERT_TRUE(c_->HandleReportScores(failed).ok());
  EXPECT_FALSE(
      c_->HandleClaimEvaluation(claim)->has_task());  // not retried forever

  v1::ListEvaluationsRequest list;
  list.set_job_id(job.id());
  auto scores = c_->HandleListEvaluations(kTrusted, list);
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(scores->pending(), 0);
  ASSERT_EQ(scores->scores_size(), 6);  // 3 checkpoints x 2 suites, once each
  EXPECT_EQ(scores->scores(0).step(), 0);
  EXPECT_EQ(scores->scores(0).suite(), "recon");
  EXPECT_DOUBLE_EQ(scores->scores(1).values().at("overall"),
                   0.25);  // the first report won
  EXPECT_EQ(scores->scores(1).evaluator_id(), "e2");
  EXPECT_EQ(scores->scores(5).error(),
            "reca-eval: NOT_FOUND: /ck/30: no such checkpoint");
  v1::GetMetricsRequest gm;
  gm.set_job_id(job.id());
  gm.set_rank(-1);
  gm.add_names("eval/shapes_eval/overall");
  auto metrics = c_->HandleGetMetrics(kTrusted, gm);
  ASSERT_EQ(metrics->points_size(), 2);  // steps 0 and 20
  EXPECT_EQ(metrics->points(1).step(), 20);
}

// --- checkpoint retention ------------------------------------------------------

class RetentionTest : public CoordinatorTest {
 protected:
  void Report(const v1::Job& job, int64_t step) {
    v1::ReportCheckpointRequest ck;
    ck.set_worker_id("w1");
    ck.set_lease_id(l1_);
    ck.mutable_checkpoint()->set_job_id(job.id());
    ck.mutable_checkpoint()->set_epoch(job.attempt().epoch());
    ck.mutable_checkpoint()->set_step(step);
    ck.mutable_checkpoint()->set_path(absl::StrCat("/runs/", job.id(), "/checkpoints/step-", step));
    ASSERT_TRUE(c_->HandleReportCheckpoint(ck).ok());
  }
  static std::vector<int64_t> ToDelete(const v1::HeartbeatResponse& beat) {
    std::vector<int64_t> steps;
    for (const v1::Checkpoint& c : beat.delete_checkpoints()) steps.push_back(c.step());
    return steps;
  }
  v1::Job StartOneRankJob(const v1::SubmitJobRequest& request) {
    l1_ = Register("w1");
    v1::Job job = c_->HandleSubmitJob(kTrusted, request)->job();
    EXPECT_EQ(Beat("w1", l1_)->assignments_size(), 1);
    EXPECT_TRUE(Beat("w1", l1_, {Running(job, 0)}).ok());
    return Get(job.id());
  }
};

TEST_F(RetentionTest, RetiredCheckpointsAreDeletedByAWorkerUntilAcknowledged) {
  v1::SubmitJobRequest request = Request(1);
  request.mutable_spec()->mutable_checkpoint()->set_keep(2);
  const v1::Job job = StartOneRankJob(request);
  EXPECT_EQ(job.checkpoint_keep(), 2);
  for (int64_t step : {10, 20}) Report(job, step);
  EXPECT_TRUE(ToDelete(*Beat("w1", l1_)).empty());
  Report(job, 30);
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{20, 30}));
  auto beat = Beat("w1", l1_);
  ASSERT_EQ(ToDelete(*beat), (std::vector<int64_t>{10}));
  EXPECT_EQ(beat->delete_checkpoints(0).path(), "/runs/" + job.id() + "/checkpoints/step-10");
  EXPECT_TRUE(ToDelete(*Beat("w1", l1_)).empty());  // handed out: not again at once
  clock_.AdvanceTime(absl::Seconds(6));  // no acknowledgement: handed out again
  EXPECT_EQ(ToDelete(*Beat("w1", l1_)), (std::vector<int64_t>{10}));
  Restart();  // the retirement is durable; the deletion is still owed
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{20, 30}));
  EXPECT_EQ(ToDelete(*Beat("w1", l1_)), (std::vector<int64_t>{10}));

  v1::HeartbeatRequest ack;
  ack.set_worker_id("w1");
  ack.set_lease_id(l1_);
  v1::Checkpoint* done = ack.add_deleted_checkpoints();
  done->set_job_id(job.id());
  done->set_step(10);
  ASSERT_TRUE(c_->HandleHeartbeat(ack).ok());
  ASSERT_TRUE(c_->HandleHeartbeat(ack).ok());  // a repeated acknowledgement is harmless
  clock_.AdvanceTime(absl::Seconds(6));
  EXPECT_TRUE(ToDelete(*Beat("w1", l1_)).empty());
  Restart();
  EXPECT_TRUE(ToDelete(*Beat("w1", l1_)).empty());
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  get.set_include_events(true);
  bool event = false;
  auto got = c_->HandleGetJob(kTrusted, get);
  ASSERT_TRUE(got.ok());
  for (const v1::JobEvent& e : got->events()) {
    event |= e.message() == "retention: checkpoint step 10 retired (keeps the newest 2); a worker deletes it";
  }
  EXPECT_TRUE(event);
}

v1::ReportScoresRequest Scores(const v1::EvalTask& task, const std::string& evaluator, double overall);

TEST_F(RetentionTest, TheBestScoredAndTheUnscoredAreKept) {
  v1::SubmitJobRequest request = Request(1);
  request.mutable_spec()->mutable_checkpoint()->set_keep(1);
  request.mutable_spec()->mutable_checkpoint()->set_keep_best("recon/psnr");
  request.mutable_spec()->mutable_eval()->add_suites("recon");
  const v1::Job job = StartOneRankJob(request);
  v1::ClaimEvaluationRequest claim;
  claim.set_evaluator_id("e1");
  auto score = [&](double psnr) {
    auto task = c_->HandleClaimEvaluation(claim);
    ASSERT_TRUE(task.ok() && task->has_task());
    ASSERT_TRUE(c_->HandleReportScores(Scores(task->task(), "e1", psnr)).ok());
  };
  Report(job, 10);
  Report(job, 20);  // 10 waits for its score
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{10, 20}));
  score(30.0);  // step 10: the best so far
  score(25.0);  // step 20
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{10, 20}));  // the best and the newest
  Report(job, 30);
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{10, 30}));  // 20 is neither
  score(31.0);
  EXPECT_EQ(Listed(job), (std::vector<int64_t>{30}));
  EXPECT_EQ(ToDelete(*Beat("w1", l1_)), (std::vector<int64_t>{10, 20}));
}

TEST_F(CoordinatorTest, ReRegisteringWorkerLosesItsOldRanks) {
  v1::Job job = StartTwoRankJob();
  const std::string new_lease = Register("w2");
  EXPECT_NE(new_lease, l2_);
  EXPECT_EQ(Get(job.id()).state(), v1::FAILED);
  EXPECT_EQ(Beat("w2", l2_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Beat("w2", new_lease).ok());
}

// --- crash-point sweep -------------------------------------------------------
//
// For every failpoint site of the coordinator and every pass through it in a
// job's whole life (register, submit, placement, start, two checkpoints,
// success), the coordinator fails there and is replaced by a new one loaded
// from the store, as after a crash; the clients retry as the real ones do.
// The recovered run must end as the clean one: one job, SUCCEEDED, never
// restarted, both checkpoints recorded once, the same events once each.

namespace sweep {

struct Outcome {
  int jobs = 0;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  int restarts = -1;
  std::vector<int64_t> checkpoints;
  std::vector<std::string> events;  // digits blanked (epochs, ports differ)
  int crashes = 0;
};

class Run {
 public:
  Outcome Go() {
    Restart();
    const std::string lease = Call([&] {
      v1::RegisterWorkerRequest r;
      r.set_worker_id("w1");
      r.set_address("127.0.0.1");
      r.set_cpu_slots(1);
      r.set_rendezvous_port_min(29600);
      r.set_rendezvous_port_max(29609);
      return c_->HandleRegisterWorker(r);
    }).lease_id();
    v1::SubmitJobRequest submit;
    submit.set_request_id("sweep-1");
    submit.mutable_spec()->set_steps(10);
    submit.mutable_spec()->mutable_checkpoint()->set_keep(0);
    submit.mutable_resources()->set_ranks(1);
    const std::string id = Call([&] { return c_->HandleSubmitJob(kTrusted, submit); }).job().id();
    auto beat = [&](bool running) {
      return Call([&] {
        v1::HeartbeatRequest r;
        r.set_worker_id("w1");
        r.set_lease_id(lease);
        if (running) {
          v1::RankStatus* s = r.add_ranks();
          s->set_job_id(id);
          s->set_epoch(Job(id).attempt().epoch());
          s->set_running(true);
        }
        return c_->HandleHeartbeat(r);
      });
    };
    beat(false);  // the assignment
    beat(true);   // started: RUNNING
    for (int64_t step : {5, 10}) {
      Call([&] {
        v1::ReportCheckpointRequest r;
        r.set_worker_id("w1");
        r.set_lease_id(lease);
        r.mutable_checkpoint()->set_job_id(id);
        r.mutable_checkpoint()->set_epoch(Job(id).attempt().epoch());
        r.mutable_checkpoint()->set_step(step);
        r.mutable_checkpoint()->set_path(absl::StrCat("/runs/", id, "/checkpoints/step-", step));
        return c_->HandleReportCheckpoint(r);
      });
    }
    Call([&] {
      v1::ReportExitRequest r;
      r.set_worker_id("w1");
      r.set_lease_id(lease);
      r.set_job_id(id);
      r.set_epoch(Job(id).attempt().epoch());
      r.set_cause(v1::EXIT_CAUSE_SUCCESS);
      return c_->HandleReportExit(r);
    });

    Outcome o;
    o.crashes = crashes_;
    v1::ListJobsRequest list;
    o.jobs = c_->HandleListJobs(kTrusted, list)->jobs_size();
    v1::GetJobRequest get;
    get.set_job_id(id);
    get.set_include_events(true);
    auto job = c_->HandleGetJob(kTrusted, get);
    o.state = job->job().state();
    o.restarts = job->job().restarts();
    for (const v1::JobEvent& e : job->events()) {
      std::string m = e.message();
      for (char& ch : m) {
        if (ch >= '0' && ch <= '9') ch = '#';
      }
      o.events.push_back(m);
    }
    v1::ListCheckpointsRequest ck;
    ck.set_job_id(id);
    auto listed = c_->HandleListCheckpoints(kTrusted, ck);
    for (const v1::Checkpoint& c : listed->checkpoints()) o.checkpoints.push_back(c.step());
    return o;
  }

 private:
  void Restart() {
    c_.reset();
    CoordinatorOptions options;
    options.runs_root = "/runs";
    auto c = Coordinator::Create({store_, clock_}, options);
    ASSERT_TRUE(c.ok()) << c.status();
    c_ = std::move(*c);
  }
  v1::Job Job(const std::string& id) {
    v1::GetJobRequest r;
    r.set_job_id(id);
    return c_->HandleGetJob(kTrusted, r)->job();
  }
  // Calls until it succeeds; a failure is the coordinator crashing there.
  // Each call follows a Tick, as the daemon's main loop runs them between
  // requests.
  template <class F>
  auto Call(F f) -> typename decltype(f())::value_type {
    for (int attempt = 0;; ++attempt) {
      if (const absl::Status tick = c_->Tick(); !tick.ok()) {
        EXPECT_EQ(tick.code(), absl::StatusCode::kUnavailable) << tick;
        ++crashes_;
        Restart();
        continue;
      }
      auto r = f();
      if (r.ok() || attempt == 3) {
        EXPECT_TRUE(r.ok()) << r.status();
        return r.ok() ? *r : typename decltype(f())::value_type();
      }
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
      ++crashes_;
      Restart();
    }
  }

  MemoryKvStore store_;
  FakeClock clock_;
  std::unique_ptr<Coordinator> c_;
  int crashes_ = 0;
};

}  // namespace sweep

TEST(CrashPointSweepTest, RecoveryFromEveryFailpointMatchesTheCleanRun) {
  ASSERT_TRUE(SetFailpoints("").ok());
  const sweep::Outcome clean = sweep::Run().Go();
  ASSERT_EQ(clean.state, v1::SUCCEEDED);
  ASSERT_EQ(clean.checkpoints, (std::vector<int64_t>{5, 10}));
  ASSERT_EQ(clean.jobs, 1);
  ASSERT_EQ(clean.restarts, 0);
  int runs = 0;
  for (const char* site :
       {"coordinator.before_state_write", "coordinator.after_state_write",
        "coordinator.before_manifest_record", "coordinator.after_manifest_record",
        "coordinator.mid_heartbeat"}) {
    ASSERT_TRUE(SetFailpoints("").ok());
    (void)sweep::Run().Go();
    const int passes = FailpointHits(site);
    EXPECT_GT(passes, 0) << site << " is never passed";
    for (int n = 1; n <= passes; ++n) {
      SCOPED_TRACE(absl::StrCat(site, " pass ", n, " of ", passes));
      ASSERT_TRUE(SetFailpoints(absl::StrCat(site, "=error@", n)).ok());
      const sweep::Outcome got = sweep::Run().Go();
      EXPECT_EQ(got.crashes, 1);
      EXPECT_EQ(got.jobs, clean.jobs);
      EXPECT_EQ(got.state, clean.state);
      EXPECT_EQ(got.restarts, clean.restarts);
      EXPECT_EQ(got.checkpoints, clean.checkpoints);
      EXPECT_EQ(got.events, clean.events);
      ++runs;
    }
  }
  ASSERT_TRUE(SetFailpoints("").ok());
  std::cerr << "crash-point sweep: " << runs << " crash points, each recovered to the clean run's state\n";
}

}  // namespace
}  // namespace reca::coordinator
