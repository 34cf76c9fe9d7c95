#include "coordinator/validation.h"

#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>

#include "absl/strings/str_cat.h"
#include "reca/job_spec.h"

namespace reca::coordinator {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

nlohmann::json FieldValue(const Message& m, const Reflection& r, const FieldDescriptor* f, int index) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return rep ? r.GetRepeatedInt32(m, f, index) : r.GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64: return rep ? r.GetRepeatedInt64(m, f, index) : r.GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32: return rep ? r.GetRepeatedUInt32(m, f, index) : r.GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64: return rep ? r.GetRepeatedUInt64(m, f, index) : r.GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r.GetRepeatedDouble(m, f, index) : r.GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT: return rep ? r.GetRepeatedFloat(m, f, index) : r.GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_BOOL: return rep ? r.GetRepeatedBool(m, f, index) : r.GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r.GetRepeatedEnum(m, f, index) : r.GetEnum(m, f))->name();
    case FieldDescriptor::CPPTYPE_STRING: return rep ? r.GetRepeatedString(m, f, index) : r.GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(rep ? r.GetRepeatedMessage(m, f, index) : r.GetMessage(m, f));
  }
  return nullptr;
}

}  // namespace

nlohmann::json ProtoToJson(const Message& message) {
  nlohmann::json out = nlohmann::json::object();
  const Reflection& r = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r.ListFields(message, &fields);  // set fields only (presence), in field-number order
  for (const FieldDescriptor* f : fields) {
    if (f->is_repeated()) {
      nlohmann::json items = nlohmann::json::array();
      for (int i = 0; i < r.FieldSize(message, f); ++i) items.push_back(FieldValue(message, r, f, i));
      out[f->name()] = std::move(items);
    } else {
      out[f->name()] = FieldValue(message, r, f, -1);
    }
  }
  return out;
}

absl::Status CheckNoUnknownFields(const Message& message, const std::string& path) {
  const Reflection& r = *message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = r.GetUnknownFields(message);
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unknown field number ", unknown.field(0).number(),
                                                   " (a client built for another API version?)"));
  }
  std::vector<const FieldDescriptor*> fields;
  r.ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r.FieldSize(message, f); ++i) {
        absl::Status s =
            CheckNoUnknownFields(r.GetRepeatedMessage(message, f, i), absl::StrCat(path, ".", f->name(), ".", i));
        if (!s.ok()) return s;
      }
    } else {
      absl::Status s = CheckNoUnknownFields(r.GetMessage(message, f), absl::StrCat(path, ".", f->name()));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SpecSummary> ValidateSpec(const v1::JobSpec& spec, size_t max_bytes) {
  const size_t bytes = spec.ByteSizeLong();
  if (bytes > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: ", bytes, " bytes, more than the limit of ", max_bytes));
  }
  if (absl::Status s = CheckNoUnknownFields(spec, "spec"); !s.ok()) return s;
  StatusOr<JobSpec> parsed = JobSpecFromJson(ProtoToJson(spec));
  if (!parsed.ok()) return parsed.status();
  return SpecSummary{parsed->name, parsed->steps};
}

absl::Status ValidateResources(const v1::Resources& resources) {
  if (resources.ranks() < 0 || resources.ranks() > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.ranks: must be in [1, 1024] (got ", resources.ranks(), ")"));
  }
  if (resources.threads_per_rank() < 0 || resources.threads_per_rank() > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.threads_per_rank: must be in [0, 1024] (got ", resources.threads_per_rank(), ")"));
  }
  if (!v1::Accelerator_IsValid(resources.accelerator())) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.accelerator: unknown value ", static_cast<int>(resources.accelerator())));
  }
  return absl::OkStatus();
}

}  // namespace reca::coordinator
