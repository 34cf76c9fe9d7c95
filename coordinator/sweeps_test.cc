// Sweeps against the real Coordinator on an in-memory store and a fake clock:
// concurrency, end states, whole-or-nothing validation, idempotency across a
// crash, cancellation and ownership.
#include "coordinator/sweeps.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/memory_kv_store.h"
#include "coordinator/coordinator.h"
#include "coordinator/keys.h"
#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

const Caller kTrusted = Caller::Trusted();
const Caller kAlice{"alice", v1::ROLE_USER};
const Caller kBob{"bob", v1::ROLE_USER};

class SweepsTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(); }

  // A fresh coordinator and sweep manager over the same store: a restart.
  void Restart() {
    sweeps_.reset();
    c_.reset();
    CoordinatorOptions options;
    options.runs_root = "/runs";
    auto c = Coordinator::Create({store_, clock_}, options);
    ASSERT_TRUE(c.ok()) << c.status();
    c_ = std::move(*c);
    auto s = SweepManager::Create(store_, clock_, *c_);
    ASSERT_TRUE(s.ok()) << s.status();
    sweeps_ = std::move(*s);
  }

  // A 2x2 grid over optimizer.lr and steps, as recactl expands it.
  static v1::SubmitSweepRequest Grid(int concurrency,
                                     const std::string& request_id = "") {
    v1::SubmitSweepRequest r;
    r.set_request_id(request_id);
    v1::Sweep& s = *r.mutable_sweep();
    s.set_name("grid");
    s.set_concurrency(concurrency);
    v1::SweepAxis* lr = s.add_axes();
    lr->set_field("optimizer.lr");
    lr->add_values("0.001");
    lr->add_values("0.01");
    v1::SweepAxis* steps = s.add_axes();
    steps->set_field("steps");
    steps->add_values("10");
    steps->add_values("20");
    for (const double lr_value : {0.001, 0.01}) {
      for (const int steps_value : {10, 20}) {
        v1::SweepPoint* p = s.add_points();
        v1::SweepValue* v = p->add_values();
        v->set_field("optimizer.lr");
        v->set_value(absl::StrCat(lr_value));
        v = p->add_values();
        v->set_field("steps");
        v->set_value(absl::StrCat(steps_value));
        p->mutable_spec()->set_name(absl::StrCat("grid-", s.points_size() - 1));
        p->mutable_spec()->set_steps(steps_value);
        p->mutable_spec()->mutable_optimizer()->set_lr(lr_value);
      }
    }
    return r;
  }

  v1::Sweep Get(const std::string& id, const Caller& caller = kTrusted) {
    v1::GetSweepRequest r;
    r.set_sweep_id(id);
    auto got = sweeps_->HandleGetSweep(caller, r);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? got->sweep() : v1::Sweep();
  }

  int JobCount() {
    auto list = c_->HandleListJobs(kTrusted, v1::ListJobsRequest());
    EXPECT_TRUE(list.ok());
    return list.ok() ? list->jobs_size() : -1;
  }

  // Ends a queued job the only way one can without workers: cancelled.
  void EndJob(const std::string& job_id) {
    v1::CancelJobRequest r;
    r.set_job_id(job_id);
    ASSERT_TRUE(c_->HandleCancelJob(kTrusted, r).ok());
  }

  // Runs a queued job to SUCCEEDED on the one-slot worker "w1".
  void SucceedJob(const std::string& job_id) {
    if (lease_.empty()) {
      v1::RegisterWorkerRequest reg;
      reg.set_worker_id("w1");
      reg.set_address("127.0.0.1");
      reg.set_cpu_slots(1);
      reg.set_rendezvous_port_min(29600);
      reg.set_rendezvous_port_max(29609);
      auto registered = c_->HandleRegisterWorker(reg);
      ASSERT_TRUE(registered.ok()) << registered.status();
      lease_ = registered->lease_id();
    }
    ASSERT_TRUE(c_->Tick().ok());  // places the queued job on it
    v1::GetJobRequest get;
    get.set_job_id(job_id);
    auto job = c_->HandleGetJob(kTrusted, get);
    ASSERT_TRUE(job.ok());
    ASSERT_EQ(job->job().state(), v1::SCHEDULED) << job->job().queue_reason();
    v1::HeartbeatRequest beat;
    beat.set_worker_id("w1");
    beat.set_lease_id(lease_);
    v1::RankStatus* rank = beat.add_ranks();
    rank->set_job_id(job_id);
    rank->set_epoch(job->job().attempt().epoch());
    rank->set_running(true);
    ASSERT_TRUE(c_->HandleHeartbeat(beat).ok());
    v1::ReportExitRequest exit;
    exit.set_worker_id("w1");
    exit.set_lease_id(lease_);
    exit.set_job_id(job_id);
    exit.set_epoch(job->job().attempt().epoch());
    exit.set_cause(v1::EXIT_CAUSE_SUCCESS);
    auto exited = c_->HandleReportExit(exit);
    ASSERT_TRUE(exited.ok()) << exited.status();
  }

  MemoryKvStore store_;
  FakeClock clock_;
  std::unique_ptr<Coordinator> c_;
  std::unique_ptr<SweepManager> sweeps_;
  std::string lease_;  // of w1
};

TEST_F(SweepsTest, RunsAtMostConcurrencyPointsAndEndsWhenAllDid) {
  auto submitted = sweeps_->HandleSubmitSweep(kTrusted, Grid(2));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const v1::Sweep& sweep = submitted->sweep();
  EXPECT_EQ(sweep.id(), "sweep-000001");
  EXPECT_EQ(sweep.state(), v1::SWEEP_RUNNING);
  EXPECT_EQ(sweep.owner(), "local");
  ASSERT_EQ(sweep.points_size(), 4);
  // Two points started at once, in index order; the others wait.
  EXPECT_FALSE(sweep.points(0).job_id().empty());
  EXPECT_FALSE(sweep.points(1).job_id().empty());
  EXPECT_TRUE(sweep.points(2).job_id().empty());
  EXPECT_EQ(JobCount(), 2);
  ASSERT_TRUE(sweeps_->Tick().ok());
  EXPECT_EQ(JobCount(), 2);

  // Point 0 succeeds, point 1 is cancelled: two more start.
  SucceedJob(sweep.points(0).job_id());
  EndJob(sweep.points(1).job_id());
  ASSERT_TRUE(sweeps_->Tick().ok());
  v1::Sweep now = Get(sweep.id());
  EXPECT_EQ(now.points(0).state(), v1::SUCCEEDED);
  EXPECT_EQ(now.points(1).state(), v1::CANCELLED);
  EXPECT_FALSE(now.points(2).job_id().empty());
  EXPECT_FALSE(now.points(3).job_id().empty());
  EXPECT_EQ(JobCount(), 4);
  // The point's job is an ordinary job: its spec is the point's.
  v1::GetJobRequest get;
  get.set_job_id(now.points(3).job_id());
  auto job = c_->HandleGetJob(kTrusted, get);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->job().spec().steps(), 20);
  EXPECT_DOUBLE_EQ(job->job().spec().optimizer().lr(), 0.01);
  EXPECT_EQ(job->job().name(), "grid-3");
  EXPECT_EQ(now.state(), v1::SWEEP_RUNNING);

  SucceedJob(now.points(2).job_id());
  SucceedJob(now.points(3).job_id());
  ASSERT_TRUE(sweeps_->Tick().ok());
  now = Get(sweep.id());
  EXPECT_EQ(now.state(), v1::SWEEP_FAILED);  // point 1 did not succeed
  EXPECT_NE(now.end_unix_micros(), 0);
}

TEST_F(SweepsTest, EverySucceededPointMeansTheSweepSucceeded) {
  v1::SubmitSweepRequest request = Grid(4);
  request.mutable_sweep()->mutable_points()->DeleteSubrange(1, 3);
  auto submitted = sweeps_->HandleSubmitSweep(kTrusted, request);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  SucceedJob(submitted->sweep().points(0).job_id());
  ASSERT_TRUE(sweeps_->Tick().ok());
  EXPECT_EQ(Get(submitted->sweep().id()).state(), v1::SWEEP_SUCCEEDED);
}

TEST_F(SweepsTest, AnInvalidPointRejectsTheWholeSweep) {
  v1::SubmitSweepRequest request = Grid(2);
  request.mutable_sweep()->mutable_points(2)->mutable_spec()->mutable_optimizer()->set_lr(-1);
  auto submitted = sweeps_->HandleSubmitSweep(kTrusted, request);
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(submitted.status().message().find(
                "sweep.points[2] (optimizer.lr=0.01, steps=10): spec.optimizer.lr"),
            std::string::npos)
      << submitted.status();
  EXPECT_EQ(JobCount(), 0);
  auto list = sweeps_->HandleListSweeps(kTrusted, v1::ListSweepsRequest());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->sweeps_size(), 0);

  v1::SubmitSweepRequest empty = Grid(2);
  empty.mutable_sweep()->clear_points();
  EXPECT_EQ(sweeps_->HandleSubmitSweep(kTrusted, empty).status().message(),
            "sweep.points: no points");
  v1::SubmitSweepRequest wide = Grid(1000);
  EXPECT_NE(sweeps_->HandleSubmitSweep(kTrusted, wide).status().message().find(
                "sweep.concurrency: must be in [1, 256]"),
            std::string::npos);
  v1::SubmitSweepRequest preset = Grid(2);
  preset.mutable_sweep()->mutable_points(1)->set_job_id("job-00000001");
  EXPECT_EQ(sweeps_->HandleSubmitSweep(kTrusted, preset).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Issue 22, from a reflection client: a sweep without its points' specs or
// its axes, and unbounded text, are refused whole.
TEST_F(SweepsTest, AMalformedOrOversizedSweepIsRefused) {
  auto message = [&](const v1::SubmitSweepRequest& r) {
    auto submitted = sweeps_->HandleSubmitSweep(kTrusted, r);
    EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(submitted.status().message());
  };
  EXPECT_EQ(message(v1::SubmitSweepRequest()), "sweep: required");

  v1::SubmitSweepRequest r = Grid(2);
  r.mutable_sweep()->mutable_points(1)->clear_spec();
  EXPECT_EQ(message(r),
            "sweep.points[1].spec: required (the base spec with the point's values)");

  r = Grid(2);
  r.mutable_sweep()->clear_axes();
  EXPECT_EQ(message(r), "sweep.axes: required (the fields the points vary, at least one)");

  r = Grid(2);
  r.mutable_sweep()->mutable_points(3)->mutable_values()->RemoveLast();
  EXPECT_EQ(message(r), "sweep.points[3].values: 1 for 2 axes (one per axis, in axis order)");
  r = Grid(2);
  r.mutable_sweep()->mutable_points(0)->mutable_values(1)->set_field("seed");
  EXPECT_EQ(message(r), "sweep.points[0].values[1].field: must be sweep.axes[1].field, steps");

  r = Grid(2);
  r.mutable_sweep()->set_name(std::string(100 << 10, 'n'));
  EXPECT_EQ(message(r), "sweep.name: 102400 bytes, more than the limit of 120");
  r = Grid(2);
  r.mutable_sweep()->mutable_axes(0)->set_field(std::string(300, 'f'));
  EXPECT_EQ(message(r), "sweep.axes[0].field: 300 bytes, more than the limit of 256");
  r = Grid(2);
  r.mutable_sweep()->mutable_axes(1)->add_values(std::string(5000, 'v'));
  EXPECT_EQ(message(r), "sweep.axes[1].values[2]: 5000 bytes, more than the limit of 4096");
  r = Grid(2);
  r.mutable_sweep()->mutable_points(2)->mutable_values(0)->set_value(std::string(5000, 'v'));
  EXPECT_EQ(message(r), "sweep.points[2].values[0].value: 5000 bytes, more than the limit of 4096");
  r = Grid(2);
  r.mutable_sweep()->add_metrics(std::string(300, 'm'));
  EXPECT_EQ(message(r), "sweep.metrics[0]: 300 bytes, more than the limit of 256");
  r = Grid(2, std::string(129, 'q'));
  EXPECT_EQ(message(r), "request_id: 129 bytes, more than the limit of 128");
  r = Grid(2);
  r.set_owner(std::string(100 << 10, 'o'));
  EXPECT_EQ(message(r), "owner: 102400 bytes, more than the limit of 128");
  // A point's spec is bounded as a job's.
  r = Grid(2);
  r.mutable_sweep()->mutable_points(0)->mutable_spec()->set_steps(
      std::numeric_limits<int64_t>::max());
  EXPECT_EQ(message(r),
            "sweep.points[0] (optimizer.lr=0.001, steps=10): spec.steps: must be in "
            "[1, 100000000]");
  EXPECT_EQ(JobCount(), 0);

  v1::GetSweepRequest get;
  get.set_sweep_id(std::string(200, 's'));
  EXPECT_EQ(sweeps_->HandleGetSweep(kTrusted, get).status().message(),
            "sweep_id: 200 bytes, more than the limit of 128");

  r = Grid(2);
  r.mutable_sweep()->set_name(std::string(120, 'n'));  // its points' "<name>-<i>" fit
  const auto at_limit = sweeps_->HandleSubmitSweep(kTrusted, r);
  EXPECT_TRUE(at_limit.ok()) << at_limit.status();
}

TEST_F(SweepsTest, SurvivesARestartAndNoPointRunsTwice) {
  auto submitted = sweeps_->HandleSubmitSweep(kTrusted, Grid(1, "ci-run-1"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->sweep().id();
  const std::string first_job = submitted->sweep().points(0).job_id();
  ASSERT_FALSE(first_job.empty());

  // A crash after point 0's job was submitted but before the sweep record
  // named it: the stored record is the one from before the point started.
  v1::Sweep before = submitted->sweep();
  before.mutable_points(0)->clear_job_id();
  before.mutable_points(0)->clear_state();
  WriteBatch rewind;
  rewind.Put(keys::Sweep(id), before.SerializeAsString());
  ASSERT_TRUE(store_.Write(rewind).ok());
  Restart();
  ASSERT_TRUE(sweeps_->Tick().ok());
  EXPECT_EQ(Get(id).points(0).job_id(), first_job);  // the same job again
  EXPECT_EQ(JobCount(), 1);

  // The client retries its submit: the same sweep, not a second one.
  auto retried = sweeps_->HandleSubmitSweep(kTrusted, Grid(1, "ci-run-1"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_FALSE(retried->created());
  EXPECT_EQ(retried->sweep().id(), id);
  auto differs = sweeps_->HandleSubmitSweep(kTrusted, Grid(2, "ci-run-1"));
  EXPECT_EQ(differs.status().code(), absl::StatusCode::kAlreadyExists);
  // New sweeps keep counting after the restart.
  auto next = sweeps_->HandleSubmitSweep(kTrusted, Grid(1));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->sweep().id(), "sweep-000002");
}

TEST_F(SweepsTest, CancelStopsPendingPointsAndCancelsRunningOnes) {
  auto submitted = sweeps_->HandleSubmitSweep(kTrusted, Grid(2));
  ASSERT_TRUE(submitted.ok());
  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(submitted->sweep().id());
  auto cancelled = sweeps_->HandleCancelSweep(kTrusted, cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_TRUE(sweeps_->Tick().ok());
  const v1::Sweep now = Get(submitted->sweep().id());
  EXPECT_EQ(now.state(), v1::SWEEP_CANCELLED);
  for (const v1::SweepPoint& p : now.points()) EXPECT_EQ(p.state(), v1::CANCELLED);
  EXPECT_TRUE(now.points(3).job_id().empty());
  EXPECT_EQ(JobCount(), 2);
  EXPECT_NE(now.end_unix_micros(), 0);
}

TEST_F(SweepsTest, ASweepIsItsOwnersAlone) {
  v1::SubmitSweepRequest as_bob = Grid(1);
  as_bob.set_owner("bob");
  EXPECT_EQ(sweeps_->HandleSubmitSweep(kAlice, as_bob).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto mine = sweeps_->HandleSubmitSweep(kAlice, Grid(1));
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(mine->sweep().owner(), "alice");
  v1::GetJobRequest get;
  get.set_job_id(mine->sweep().points(0).job_id());
  auto job = c_->HandleGetJob(kAlice, get);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job().owner(), "alice");

  v1::GetSweepRequest peek;
  peek.set_sweep_id(mine->sweep().id());
  EXPECT_EQ(sweeps_->HandleGetSweep(kBob, peek).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(mine->sweep().id());
  EXPECT_EQ(sweeps_->HandleCancelSweep(kBob, cancel).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto bobs = sweeps_->HandleListSweeps(kBob, v1::ListSweepsRequest());
  ASSERT_TRUE(bobs.ok());
  EXPECT_EQ(bobs->sweeps_size(), 0);
  auto all = sweeps_->HandleListSweeps(kTrusted, v1::ListSweepsRequest());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->sweeps_size(), 1);
  EXPECT_FALSE(all->sweeps(0).points(0).has_spec());  // listed without specs
  peek.set_sweep_id("sweep-999999");
  EXPECT_EQ(sweeps_->HandleGetSweep(kAlice, peek).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace reca::coordinator
