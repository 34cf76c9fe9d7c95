#include "coordinator/validation.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_json.h"
#include "reca/job_spec.h"
#include "reca/job_spec_fields.h"

namespace reca::coordinator {

// One limit for every name (see kMaxIdBytes).
static_assert(kMaxIdBytes == spec_fields::kMaxNameBytes);
// The fields' own bounds keep the product of ValidateJobSize inside int64:
// steps (< 2^27) x samples per rank step (2^20) x ranks (2^10) < 2^57.
static_assert(spec_fields::kMaxSteps < (int64_t{1} << 27) &&
              spec_fields::kMaxRankStepSamples <= (int64_t{1} << 20));
constexpr int kMaxRanks = 1024;

absl::Status CheckLength(absl::string_view value, absl::string_view field,
                         size_t max_bytes) {
  if (value.size() <= max_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", value.size(), " bytes, more than the limit of ", max_bytes));
}

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status CheckNoUnknownFields(const Message& message,
                                  const std::string& path) {
  const Reflection& r = *message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown =
      r.GetUnknownFields(message);
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown field number ", unknown.field(0).number(),
                     " (a client built for another API version?)"));
  }
  std::vector<const FieldDescriptor*> fields;
  r.ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r.FieldSize(message, f); ++i) {
        absl::Status s =
            CheckNoUnknownFields(r.GetRepeatedMessage(message, f, i),
                                 absl::StrCat(path, ".", f->name(), ".", i));
        if (!s.ok()) return s;
      }
    } else {
      absl::Status s = CheckNoUnknownFields(r.GetMessage(message, f),
                                            absl::StrCat(path, ".", f->name()));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SpecSummary> ValidateSpec(const v1::JobSpec& spec,
                                         size_t max_bytes,
                                         const PathRoots& roots) {
  const size_t bytes = spec.ByteSizeLong();
  if (bytes > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec: ", bytes, " bytes, more than the limit of ", max_bytes));
  }
  if (absl::Status s = CheckNoUnknownFields(spec, "spec"); !s.ok()) return s;
  StatusOr<JobSpec> parsed = JobSpecFromJson(ProtoToJson(spec));
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = ConfineSpecPaths(*parsed, roots, /*on_disk=*/false);
      !s.ok())
    return s;
  int64_t batches = 0;
  for (const SourceSpec& source : parsed->effective_sources())
    batches += source.repeat;
  return SpecSummary{parsed->name, parsed->steps,
                     parsed->batch_per_rank * batches,
                     static_cast<int>(parsed->max_restarts),  // <= 1000
                     parsed->checkpoint.keep, parsed->checkpoint.keep_best};
}

absl::Status ValidateResources(const v1::Resources& resources) {
  if (resources.ranks() < 0 || resources.ranks() > kMaxRanks) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.ranks: must be in [1, ", kMaxRanks, "] (got ",
                     resources.ranks(), ")"));
  }
  if (resources.threads_per_rank() < 0 || resources.threads_per_rank() > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.threads_per_rank: must be in [0, 1024] (got ",
                     resources.threads_per_rank(), ")"));
  }
  if (!v1::Accelerator_IsValid(resources.accelerator())) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.accelerator: unknown value ",
                     static_cast<int>(resources.accelerator())));
  }
  return absl::OkStatus();
}

absl::Status ValidateJobSize(const SpecSummary& spec,
                             const v1::Resources& resources) {
  const int64_t ranks = std::max(1, resources.ranks());  // 0 = 1
  if (spec.steps <= 0 || spec.samples_per_rank_step <= 0 || ranks > kMaxRanks)
    return absl::OkStatus();  // not a valid spec and resources: checked before
  const int64_t samples = spec.steps * spec.samples_per_rank_step * ranks;
  if (samples <= kMaxJobSamples) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "spec.steps: ", spec.steps, " steps x ", spec.samples_per_rank_step,
      " samples per rank per step x ", ranks, " ranks = ", samples,
      " samples, more than the limit of ", kMaxJobSamples,
      " (2^53) for one job; fewer steps or a smaller batch"));
}

}  // namespace reca::coordinator
