#include "worker/rank_launch.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "reca/file_util.h"
#include "reca/status.h"

namespace reca {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::ordered_json;

// Proto JSON writes (u)int64 as strings; turn them back into numbers.
absl::Status UnquoteInt64(const Descriptor* d, Json* j) {
  if (!j->is_object()) return absl::OkStatus();
  for (auto it = j->begin(); it != j->end(); ++it) {
    const FieldDescriptor* f = d->FindFieldByName(it.key());
    if (f == nullptr || f->is_map()) continue;
    auto fix = [&](Json* v) -> absl::Status {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        return UnquoteInt64(f->message_type(), v);
      if (!v->is_string()) return absl::OkStatus();
      const std::string s = v->get<std::string>();
      errno = 0;
      char* end = nullptr;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
        const long long x = std::strtoll(s.c_str(), &end, 10);
        if (errno == 0 && end != s.c_str() && *end == '\0')
          *v = static_cast<int64_t>(x);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
        const unsigned long long x = std::strtoull(s.c_str(), &end, 10);
        if (errno == 0 && end != s.c_str() && *end == '\0')
          *v = static_cast<uint64_t>(x);
      } else {
        return absl::OkStatus();
      }
      if (v->is_string())
        return absl::InternalError(
            absl::StrCat("spec.", f->name(), ": not an integer: ", s));
      return absl::OkStatus();
    };
    if (it.value().is_array()) {
      for (Json& v : it.value()) RECA_RETURN_IF_ERROR(fix(&v));
    } else {
      RECA_RETURN_IF_ERROR(fix(&it.value()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string RankDir(const std::string& output_dir, int rank) {
  return absl::StrCat(output_dir, "/ranks/rank-", rank);
}

std::string MetricsPath(const std::string& output_dir, int rank) {
  return rank == 0 ? output_dir + "/metrics.jsonl"
                   : absl::StrCat(output_dir, "/metrics.rank", rank, ".jsonl");
}

std::string CheckpointsDir(const std::string& output_dir) {
  return output_dir + "/checkpoints";
}

absl::StatusOr<std::string> JobSpecToTrainerJson(const v1::JobSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string text;
  const auto status =
      google::protobuf::util::MessageToJsonString(spec, &text, options);
  if (!status.ok())
    return absl::InternalError(
        absl::StrCat("job spec to JSON: ", status.ToString()));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InternalError("job spec to JSON: protobuf wrote invalid JSON");
  RECA_RETURN_IF_ERROR(UnquoteInt64(v1::JobSpec::descriptor(), &j));
  return j.dump(2) + "\n";
}

absl::StatusOr<ProcessSpec> PrepareRankLaunch(const v1::Assignment& a,
                                              const RankLaunchOptions& o) {
  if (a.job_id().empty())
    return absl::InvalidArgumentError("assignment: empty job_id");
  if (a.output_dir().empty())
    return absl::InvalidArgumentError("assignment: empty output_dir");
  if (a.world_size() < 1 || a.rank() < 0 || a.rank() >= a.world_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("assignment: rank ", a.rank(),
                     " is not in [0, world_size ", a.world_size(), ")"));
  }
  if (a.master_addr().empty() || a.master_port() < 1 ||
      a.master_port() > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("assignment: bad rendezvous address '", a.master_addr(),
                     ":", a.master_port(), "'"));
  }
  if (a.threads() < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("assignment: threads ", a.threads(), " < 0"));

  const std::string dir = RankDir(a.output_dir(), a.rank());
  RECA_RETURN_IF_ERROR(MakeDirs(dir));
  RECA_ASSIGN_OR_RETURN(const std::string json, JobSpecToTrainerJson(a.spec()));
  const std::string spec_path = dir + "/spec.json";
  RECA_RETURN_IF_ERROR(WriteFileAtomic(spec_path, json));

  ProcessSpec p;
  const int threads = a.threads() > 0 ? a.threads() : o.default_threads;
  p.argv = {o.trainer_path,
            "--spec=" + spec_path,
            "--out=" + a.output_dir(),
            absl::StrCat("--rank=", a.rank()),
            absl::StrCat("--world_size=", a.world_size()),
            "--master_addr=" + a.master_addr(),
            absl::StrCat("--master_port=", a.master_port()),
            "--local_addr=" + o.local_addr,
            absl::StrCat("--threads=", threads),
            "--progress=false"};
  // The flags win over these in reca-train; the RECA_* ones name the attempt
  // for anything the trainer spawns and for people reading /proc.
  p.env = {{"RANK", absl::StrCat(a.rank())},
           {"WORLD_SIZE", absl::StrCat(a.world_size())},
           {"MASTER_ADDR", a.master_addr()},
           {"MASTER_PORT", absl::StrCat(a.master_port())},
           {"RECA_JOB_ID", a.job_id()},
           {"RECA_EPOCH", absl::StrCat(a.epoch())},
           {"RECA_WORKER_ID", o.worker_id},
           // One slot's share of the cores: without these, OpenBLAS (and
           // OpenMP) in every rank start a thread per core and the ranks of
           // one worker oversubscribe it.
           {"OPENBLAS_NUM_THREADS", absl::StrCat(threads)},
           {"OMP_NUM_THREADS", absl::StrCat(threads)}};
  p.log_path = dir + "/train.log";
  return p;
}

}  // namespace reca
