// The coordinator's /metrics text from its live state (fake clock, in-memory
// store), checked line by line and by `promtool check metrics`.
#include "coordinator/prometheus_export.h"

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/memory_kv_store.h"
#include "common/promtool_test_util.h"
#include "coordinator/coordinator.h"
#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

const Caller kTrusted = Caller::Trusted();

std::string Text(const MetricsSnapshot& m) {
  return ExpositionText(SnapshotFamilies(m, "test"));
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

class PrometheusExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CoordinatorOptions options;
    options.runs_root = "/runs";
    auto c = Coordinator::Create({store_, clock_}, options);
    ASSERT_TRUE(c.ok()) << c.status();
    c_ = std::move(*c);
  }

  std::string Register(const std::string& id) {
    v1::RegisterWorkerRequest r;
    r.set_worker_id(id);
    r.set_address("127.0.0.1");
    r.set_cpu_slots(1);
    r.set_rendezvous_port_min(29600);
    r.set_rendezvous_port_max(29609);
    auto response = c_->HandleRegisterWorker(r);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->lease_id() : "";
  }

  v1::Job Submit(const std::string& name) {
    v1::SubmitJobRequest r;
    r.mutable_spec()->set_name(name);
    r.mutable_spec()->set_steps(100);
    r.mutable_resources()->set_ranks(1);
    auto job = c_->HandleSubmitJob(kTrusted, r);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->job() : v1::Job();
  }

  v1::Job Get(const std::string& id) {
    v1::GetJobRequest r;
    r.set_job_id(id);
    auto job = c_->HandleGetJob(kTrusted, r);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->job() : v1::Job();
  }

  // Worker `w` reports its rank 0 of `job` at `step`, with the step's time.
  void Beat(const std::string& w, const std::string& lease, const v1::Job& job,
            int64_t step, double step_s) {
    v1::HeartbeatRequest r;
    r.set_worker_id(w);
    r.set_lease_id(lease);
    v1::RankStatus* s = r.add_ranks();
    s->set_job_id(job.id());
    s->set_epoch(job.attempt().epoch());
    s->set_rank(0);
    s->set_running(true);
    s->mutable_progress()->set_step(step);
    s->mutable_progress()->set_loss(0.5);
    s->mutable_progress()->set_samples_per_second(120);
    s->mutable_progress()->set_model_flops_per_second(2.5e9);
    s->mutable_progress()->set_mfu(0.25);
    s->mutable_progress()->set_collapse_ratio(0.125);
    s->mutable_progress()->set_collapse_alarm(true);
    v1::MetricPoint* p = s->add_points();
    p->set_name("step_s");
    p->set_step(step);
    p->set_value(step_s);
    ASSERT_TRUE(c_->HandleHeartbeat(r).ok());
  }

  MemoryKvStore store_;
  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<Coordinator> c_;
};

TEST_F(PrometheusExportTest, LiveStateBecomesSeriesThatLeaveWithTheJob) {
  const std::string lease = Register("w1");
  const v1::Job running = Submit("pretrain");
  Submit("second");  // no free slot: waits
  clock_.AdvanceTime(absl::Seconds(30));
  Beat("w1", lease, Get(running.id()), 5, 0.2);
  clock_.AdvanceTime(absl::Seconds(2));

  std::string text = Text(c_->Snapshot());
  EXPECT_TRUE(Has(text, "reca_build_info{version=\"test\"} 1")) << text;
  EXPECT_TRUE(Has(text, "reca_jobs{state=\"queued\"} 1")) << text;
  EXPECT_TRUE(Has(text, "reca_jobs{state=\"running\"} 1")) << text;
  EXPECT_TRUE(Has(text, "reca_jobs{state=\"failed\"} 0")) << text;
  EXPECT_TRUE(Has(text, "reca_jobs_submitted_total 2")) << text;
  EXPECT_TRUE(Has(text, "reca_queue_depth 1")) << text;
  EXPECT_TRUE(Has(text, "reca_queue_oldest_wait_seconds 32")) << text;
  const std::string job = "job_id=\"" + running.id() + "\"";
  EXPECT_TRUE(Has(text, "reca_job_steps_total{" + job + ",rank=\"0\"} 5"))
      << text;
  EXPECT_TRUE(Has(text, "reca_job_loss{" + job + ",rank=\"0\"} 0.5")) << text;
  EXPECT_TRUE(Has(text, "reca_job_model_flops_per_second{" + job + ",rank=\"0\"} 2500000000")) << text;
  EXPECT_TRUE(Has(text, "reca_job_mfu_ratio{" + job + ",rank=\"0\"} 0.25")) << text;
  EXPECT_TRUE(Has(text, "reca_job_collapse_ratio{" + job + ",rank=\"0\"} 0.125")) << text;
  EXPECT_TRUE(Has(text, "reca_job_collapse_alarm{" + job + ",rank=\"0\"} 1")) << text;
  // 5 steps x batch_per_rank 16 x the default sources' 4 batches.
  EXPECT_TRUE(Has(text, "reca_job_samples_total{" + job + ",rank=\"0\"} 320"))
      << text;
  EXPECT_TRUE(
      Has(text, "reca_job_progress_age_seconds{" + job + ",rank=\"0\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "reca_job_step_duration_seconds_bucket{" + job +
                            ",rank=\"0\",le=\"0.25\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "reca_job_step_duration_seconds_bucket{" + job +
                            ",rank=\"0\",le=\"0.1\"} 0"))
      << text;
  EXPECT_TRUE(Has(text, "reca_worker_slots_used{worker=\"w1\",kind=\"cpu\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "reca_worker_heartbeat_age_seconds{worker=\"w1\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "reca_job_failures_total{reason=\"error\"} 0")) << text;
  EXPECT_TRUE(Has(text, "reca_job_failures_total{reason=\"invalid_job\"} 0")) << text;
  EXPECT_TRUE(Has(text, "reca_job_failures_total{reason=\"stalled\"} 0")) << text;
  EXPECT_TRUE(Has(text, "reca_checkpoint_unreadable_total 0")) << text;

  // The job fails: its per-rank series go, the failure is counted by cause.
  v1::ReportExitRequest exit;
  exit.set_worker_id("w1");
  exit.set_lease_id(lease);
  exit.set_job_id(running.id());
  exit.set_epoch(Get(running.id()).attempt().epoch());
  exit.set_rank(0);
  exit.set_cause(v1::EXIT_CAUSE_OUT_OF_MEMORY);
  ASSERT_TRUE(c_->HandleReportExit(exit).ok());
  text = Text(c_->Snapshot());
  EXPECT_EQ(text.find(job), std::string::npos) << text;
  EXPECT_TRUE(Has(text, "reca_job_failures_total{reason=\"out_of_memory\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "reca_jobs{state=\"failed\"} 1")) << text;
}

// promtool (Debian's prometheus package, installed by scripts/setup.sh) lints
// the exposition: names, units, HELP, _total counters, histograms.
TEST_F(PrometheusExportTest, PromtoolAcceptsTheExposition) {
  const std::string lease = Register("w1");
  const v1::Job job = Submit("pretrain");
  Beat("w1", lease, Get(job.id()), 3, 0.02);
  Submit("queued");
  EXPECT_EQ(PromtoolComplaints(SnapshotFamilies(c_->Snapshot(), "test"),
                               "coordinator"),
            "");
}

}  // namespace
}  // namespace reca::coordinator
