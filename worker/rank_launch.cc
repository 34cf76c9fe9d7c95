#include "worker/rank_launch.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_json.h"
#include "reca/file_util.h"
#include "reca/status.h"

namespace reca {

std::string RankLabel(const std::string& job_id, int64_t epoch, int rank) {
  return absl::StrCat("job ", job_id, " epoch ", epoch, " rank ", rank);
}

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
  return ProtoToJson(spec).dump(2) + "\n";
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
            "--progress=false",
            // Only what the coordinator recorded is resumed; it also owns
            // retention (spec.checkpoint.keep / keep_best).
            "--resume_from=" + (a.resume().path().empty() ? std::string("none")
                                                          : a.resume().path()),
            "--resume_manifest_sha256=" + a.resume().manifest_sha256(),
            absl::StrCat("--epoch=", a.epoch()),
            "--keep_checkpoints=0"};
  if (!o.data_roots.empty()) {
    // The jobs' runs root too: model.init names other jobs' checkpoints.
    std::string parent = a.output_dir();
    while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
    parent = parent.substr(0, parent.rfind('/'));
    p.argv.push_back("--data_roots=" + absl::StrJoin(o.data_roots, ",") + "," +
                     (parent.empty() ? a.output_dir() : parent));
  }
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
  if (a.accelerator() == v1::GPU) {
    // The rank sees only its own device, as cuda:0.
    if (a.gpu_index() < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("assignment: gpu_index ", a.gpu_index(), " < 0"));
    p.argv.push_back("--device=cuda");
    if (o.gpu_peak_flops > 0)
      p.argv.push_back(absl::StrCat("--peak_flops=", o.gpu_peak_flops));
    p.env["CUDA_VISIBLE_DEVICES"] = absl::StrCat(a.gpu_index());
  }
  p.log_path = dir + "/train.log";
  p.die_with_parent = true;  // a crashed worker leaves no unsupervised rank
  return p;
}

}  // namespace reca
