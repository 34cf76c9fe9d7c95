#include "worker/prometheus_export.h"

#include "common/metric_families.h"

namespace reca {

std::vector<prometheus::MetricFamily> WorkerFamilies(
    const WorkerStats& s, const std::string& version) {
  MetricFamilies f;
  const auto G = prometheus::MetricType::Gauge,
             C = prometheus::MetricType::Counter;
  const MetricLabels me = {{"worker", s.worker_id}};
  f.Begin("reca_build_info", "Build of the reca-worker serving these metrics.",
          G);
  f.Gauge(1, {{"version", version}});
  f.Begin("reca_worker_registered",
          "1 while this worker holds a lease from the coordinator.", G);
  f.Gauge(s.registered ? 1 : 0, me);
  f.Begin("reca_worker_lease_epoch",
          "Fencing epoch of this worker's current lease.", G);
  if (s.registered) f.Gauge(static_cast<double>(s.lease_epoch), me);
  f.Begin(
      "reca_worker_last_heartbeat_timestamp_seconds",
      "When the coordinator last accepted this worker's heartbeat (Unix time).",
      G);
  if (s.registered) f.Gauge(s.last_heartbeat_unix_s, me);
  f.Begin("reca_worker_slots", "Rank slots this worker offers.", G);
  f.Gauge(s.cpu_slots, {{"worker", s.worker_id}, {"kind", "cpu"}});
  f.Gauge(s.gpu_slots, {{"worker", s.worker_id}, {"kind", "gpu"}});
  f.Begin("reca_worker_ranks_running",
          "reca-train rank processes running on this worker.", G);
  f.Gauge(static_cast<double>(s.ranks.size()), me);
  f.Begin("reca_worker_rank_step",
          "Latest step a running rank process has logged.", G);
  for (const WorkerStats::RankRow& r : s.ranks) {
    f.Gauge(static_cast<double>(r.step),
            {{"job_id", r.job_id}, {"rank", std::to_string(r.rank)}});
  }
  f.Begin("reca_worker_pending_reports",
          "Checkpoint and exit reports not yet delivered to the coordinator.",
          G);
  f.Gauge(static_cast<double>(s.pending_reports), me);
  f.Begin("reca_worker_heartbeats_total", "Heartbeats sent, by outcome.", C);
  f.Counter(static_cast<double>(s.heartbeats_ok),
            {{"worker", s.worker_id}, {"outcome", "ok"}});
  f.Counter(static_cast<double>(s.heartbeats_failed),
            {{"worker", s.worker_id}, {"outcome", "failed"}});
  f.Begin("reca_worker_registrations_total",
          "Leases obtained from the coordinator.", C);
  f.Counter(static_cast<double>(s.registrations), me);
  f.Begin("reca_worker_register_failures_total", "Failed attempts to register.",
          C);
  f.Counter(static_cast<double>(s.register_failures), me);
  f.Begin(
      "reca_worker_leases_lost_total",
      "Leases lost (coordinator unreachable past the TTL, or it forgot us).",
      C);
  f.Counter(static_cast<double>(s.leases_lost), me);
  f.Begin("reca_worker_rank_launches_total",
          "reca-train rank processes started.", C);
  f.Counter(static_cast<double>(s.launches), me);
  f.Begin("reca_worker_rank_exits_total", "Rank processes ended, by cause.", C);
  for (const char* cause : {"success", "error", "signal", "out_of_memory",
                            "launch_failed", "unspecified"}) {
    auto it = s.exits_by_cause.find(cause);
    f.Counter(
        it == s.exits_by_cause.end() ? 0.0 : static_cast<double>(it->second),
        {{"worker", s.worker_id}, {"cause", cause}});
  }
  return f.Take();
}

}  // namespace reca
