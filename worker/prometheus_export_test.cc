// The worker's /metrics text from its stats, and promtool's lint of it.
#include "worker/prometheus_export.h"

#include <string>

#include "common/promtool_test_util.h"
#include "gtest/gtest.h"

namespace reca {
namespace {

WorkerStats Sample() {
  WorkerStats s;
  s.worker_id = "w1";
  s.registered = true;
  s.lease_epoch = 7;
  s.last_heartbeat_unix_s = 1.8e9;
  s.cpu_slots = 2;
  s.ranks = {{"job-00000003", 1, 7, 120}};
  s.pending_reports = 1;
  s.heartbeats_ok = 40;
  s.heartbeats_failed = 2;
  s.registrations = 1;
  s.launches = 3;
  s.exits_by_cause = {{"success", 1}, {"out_of_memory", 1}};
  return s;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(WorkerPrometheusExportTest, StatsBecomeSeries) {
  const std::string text = ExpositionText(WorkerFamilies(Sample(), "t"));
  EXPECT_TRUE(Has(text, "reca_worker_registered{worker=\"w1\"} 1")) << text;
  EXPECT_TRUE(Has(text, "reca_worker_lease_epoch{worker=\"w1\"} 7")) << text;
  EXPECT_TRUE(Has(
      text, "reca_worker_rank_step{job_id=\"job-00000003\",rank=\"1\"} 120"))
      << text;
  EXPECT_TRUE(Has(
      text, "reca_worker_heartbeats_total{worker=\"w1\",outcome=\"failed\"} 2"))
      << text;
  EXPECT_TRUE(Has(
      text,
      "reca_worker_rank_exits_total{worker=\"w1\",cause=\"out_of_memory\"} 1"))
      << text;
  EXPECT_TRUE(Has(
      text, "reca_worker_rank_exits_total{worker=\"w1\",cause=\"signal\"} 0"))
      << text;
  EXPECT_TRUE(Has(text, "reca_worker_slots{worker=\"w1\",kind=\"gpu\"} 0"))
      << text;

  WorkerStats lost = Sample();
  lost.registered = false;
  lost.ranks.clear();
  const std::string after = ExpositionText(WorkerFamilies(lost, "t"));
  EXPECT_TRUE(Has(after, "reca_worker_registered{worker=\"w1\"} 0")) << after;
  EXPECT_EQ(after.find("reca_worker_lease_epoch{"), std::string::npos) << after;
  EXPECT_EQ(after.find("reca_worker_rank_step{"), std::string::npos) << after;
}

TEST(WorkerPrometheusExportTest, PromtoolAcceptsTheExposition) {
  EXPECT_EQ(PromtoolComplaints(WorkerFamilies(Sample(), "t"), "worker"), "");
}

}  // namespace
}  // namespace reca
