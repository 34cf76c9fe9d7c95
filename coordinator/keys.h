// The coordinator's RocksDB key layout, in one place. Values are serialized
// reca.v1 messages. Numbers are zero-padded so that byte order is numeric
// order (scans return steps and events in order).
//   job/<job id>                           Job
//   event/<job id>/<seq>                   JobEvent
//   idem/<request id>                      job id + request fingerprint
//   worker/<worker id>                     Worker (lease)
//   ckpt/<job id>/<step>                   Checkpoint
//   metric/<job id>/<name>/<rank>/<step>   MetricPoint
//   eval/<job id>/<step>/<suite>           EvalScore
//   sweep/<sweep id>                       Sweep
//   sweepidem/<request id>                 sweep id + request fingerprint
//   meta/next_job_seq, meta/next_epoch,
//   meta/next_sweep_seq                    decimal counters
#ifndef RECA_COORDINATOR_KEYS_H_
#define RECA_COORDINATOR_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace reca::coordinator::keys {

inline std::string Job(const std::string& id) { return "job/" + id; }
inline constexpr char kJobPrefix[] = "job/";
inline std::string EventPrefix(const std::string& job) {
  return absl::StrCat("event/", job, "/");
}
inline std::string Event(const std::string& job, int64_t seq) {
  return absl::StrFormat("event/%s/%010d", job, seq);
}
inline std::string Idempotency(const std::string& request_id) {
  return "idem/" + request_id;
}
inline std::string Worker(const std::string& id) { return "worker/" + id; }
inline constexpr char kWorkerPrefix[] = "worker/";
inline std::string CheckpointPrefix(const std::string& job) {
  return absl::StrCat("ckpt/", job, "/");
}
inline std::string Checkpoint(const std::string& job, int64_t step) {
  return absl::StrFormat("ckpt/%s/%012d", job, step);
}
inline std::string MetricPrefix(const std::string& job) {
  return absl::StrCat("metric/", job, "/");
}
inline std::string MetricNamePrefix(const std::string& job,
                                    const std::string& name) {
  return absl::StrCat("metric/", job, "/", name, "/");
}
inline std::string Metric(const std::string& job, const std::string& name,
                          int rank, int64_t step) {
  return absl::StrFormat("metric/%s/%s/%04d/%012d", job, name, rank, step);
}
inline std::string EvalPrefix(const std::string& job) {
  return absl::StrCat("eval/", job, "/");
}
inline std::string EvalStepPrefix(const std::string& job, int64_t step) {
  return absl::StrFormat("eval/%s/%012d/", job, step);
}
inline std::string Eval(const std::string& job, int64_t step,
                        const std::string& suite) {
  return absl::StrFormat("eval/%s/%012d/%s", job, step, suite);
}
inline std::string Sweep(const std::string& id) { return "sweep/" + id; }
inline constexpr char kSweepPrefix[] = "sweep/";
inline std::string SweepIdempotency(const std::string& request_id) {
  return "sweepidem/" + request_id;
}
inline constexpr char kNextJobSeq[] = "meta/next_job_seq";
inline constexpr char kNextSweepSeq[] = "meta/next_sweep_seq";
inline constexpr char kNextEpoch[] = "meta/next_epoch";

}  // namespace reca::coordinator::keys

#endif  // RECA_COORDINATOR_KEYS_H_
