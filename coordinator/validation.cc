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

namespace reca::coordinator {

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
                     static_cast<int>(std::min<int64_t>(parsed->max_restarts, 1000)),
                     parsed->checkpoint.keep, parsed->checkpoint.keep_best};
}

absl::Status ValidateResources(const v1::Resources& resources) {
  if (resources.ranks() < 0 || resources.ranks() > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resources.ranks: must be in [1, 1024] (got ", resources.ranks(), ")"));
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

}  // namespace reca::coordinator
