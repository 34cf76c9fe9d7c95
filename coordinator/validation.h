// Request validation for the coordinator, with the field path in every error
// (DESIGN.md §5.6): the job spec goes through the trainer's own field table
// (reca/job_spec.h), so the service accepts exactly what reca-train accepts.
#ifndef RECA_COORDINATOR_VALIDATION_H_
#define RECA_COORDINATOR_VALIDATION_H_

#include <google/protobuf/message.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reca/path_policy.h"
#include "reca/v1/job.pb.h"
#include "reca/v1/job_spec.pb.h"

namespace reca::coordinator {

// Request-level limits (README "Limits"; the job spec's own are in its field
// table, reca/job_spec_fields.h). Identifiers a client chooses or sends back
// (request ids, owners, job and sweep ids, sweep names, list filters) are at
// most 128 bytes: the limit of token names (auth.cc), worker ids and job
// names (spec.name), so that anything the coordinator stores or echoes in an
// error stays small.
inline constexpr size_t kMaxIdBytes = 128;
// Metric names a GetMetrics call may filter by, and their length ("loss",
// "shapes_eval/overall"; each becomes a store scan).
inline constexpr int kMaxMetricNames = 256;
inline constexpr size_t kMaxMetricNameBytes = 256;
// The samples a whole job trains on, over all ranks: steps x samples per
// rank step x ranks. 2^53 keeps every sample count (the data pipeline's int64
// cursors, and the doubles that metrics, Prometheus and JSON clients read
// counts as) exact, 2^10 below int64 overflow.
inline constexpr int64_t kMaxJobSamples = int64_t{1} << 53;

// OK when `value` has at most `max_bytes` bytes, else INVALID_ARGUMENT
// "`field`: 102400 bytes, more than the limit of 128".
absl::Status CheckLength(absl::string_view value, absl::string_view field,
                         size_t max_bytes);

// INVALID_ARGUMENT naming the first field (`path`.a.b) carrying unknown fields:
// a client built against another version of the API sent something this
// coordinator would silently drop.
absl::Status CheckNoUnknownFields(const google::protobuf::Message& message,
                                  const std::string& path);

// The bytes that identify a request for idempotency (SubmitJob, SubmitSweep):
// its deterministic serialization with request_id cleared. A retry under the
// same request id must match them exactly.
std::string DeterministicBytes(const google::protobuf::Message& message);
template <typename Request>
std::string RequestFingerprint(Request request) {
  request.clear_request_id();
  return DeterministicBytes(request);
}

// What the coordinator needs from a valid spec.
struct SpecSummary {
  std::string name;
  int64_t steps = 0;
  // Samples one rank trains on per step: batch_per_rank x the sources'
  // repeats (the trainer's effective sources).
  int64_t samples_per_rank_step = 0;
  int max_restarts = 0;
  int64_t checkpoint_keep = 0;       // spec.checkpoint.keep
  std::string checkpoint_keep_best;  // spec.checkpoint.keep_best
};

// INVALID_ARGUMENT "spec.optimizer.lr: must be > 0" and the like; with
// `roots`, also "spec.model.init: /etc/x is outside the allowed roots (...)"
// (reca/path_policy.h, lexically: the files are on the workers).
absl::StatusOr<SpecSummary> ValidateSpec(const v1::JobSpec& spec,
                                         size_t max_bytes,
                                         const PathRoots& roots = {});

// INVALID_ARGUMENT "resources.ranks: must be in [1, 1024] (got 0)" and the
// like.
absl::Status ValidateResources(const v1::Resources& resources);

// The cross-field bound of a valid spec and valid resources: INVALID_ARGUMENT
// naming spec.steps when steps x samples per rank step x ranks is more than
// kMaxJobSamples.
absl::Status ValidateJobSize(const SpecSummary& spec,
                             const v1::Resources& resources);

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_VALIDATION_H_
