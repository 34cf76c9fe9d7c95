// reca-train: one rank of a RecA / pre-training job. See README.md ("Job
// spec" and "Running the trainer") and `reca-train --help`.
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "reca/cli_args.h"
#include "reca/job_spec.h"
#include "reca/path_policy.h"
#include "reca/spec_file.h"
#include "reca/tokenizer.h"
#include "reca/trainer.h"

namespace {

constexpr const char* kUsage = R"(usage: reca-train [--spec=JOB.yaml] [--FIELD.PATH=VALUE ...] [runtime flags]

The job is a YAML (or JSON) job spec; any spec field can be set or overridden
on the command line by its path: --steps=200 --optimizer.lr=1e-4
--data.sources.0.repeat=3. `--spec_reference` prints every field.

Runtime flags (how this process runs, not what the job is):
  --out=DIR                checkpoints/, metrics.jsonl, PNG grids, model.safetensors
                           (default runs/train)
  --resume=true|false      continue from DIR/checkpoints' newest checkpoint (default true)
  --resume_from=CKPT|none  start from exactly this checkpoint directory (or from the start),
                           discarding committed checkpoints after it (the service's worker
                           passes the coordinator's record) --resume_manifest_sha256=HEX
                           (its MANIFEST.json must hash to this)
  --data_roots=DIR[,DIR]   the spec's files (model.init, model.module, manifests, shards,
                           templates_file) must be inside these, symlinks resolved (the
                           worker passes its --data_roots; default: anywhere)
  --keep_checkpoints=N     overrides checkpoint.keep (the worker passes 0: the coordinator
                           applies retention)
  --epoch=E                the service's fencing epoch of this attempt, written into each
                           checkpoint's MANIFEST.json (the worker passes it; default 0)
  --threads=N              LibTorch intra-op threads (default 1: GEMMs use OpenBLAS's own
                           pool of all cores; 0 = all cores)
  --device=cpu|cuda[:i]    --bf16 (bfloat16 autocast, CUDA only)
  --peak_flops=F           the device's peak FLOP/s for MFU (default: measure a dense GEMM
                           on the device at start)
  --rank=R --world_size=W  data-parallel rank (env RANK, WORLD_SIZE; default 0 of 1)
  --master_addr=HOST --master_port=P   rank 0's TCPStore (env MASTER_ADDR, MASTER_PORT)
  --local_addr=ADDR        address this rank's Gloo transport binds to
  --dist_timeout_s=S       rendezvous and collective timeout (default 60)
  --dist_backend=B         auto (NCCL for CUDA, else Gloo) | gloo | nccl
  --checkpoint_barrier_timeout_s=S   how long ranks wait for rank 0's checkpoint
                           commit or grids (default 1800)
  --bucket_mb=M            gradient all-reduce bucket size (default 25)
  --stop_after=N           leave after N steps with a checkpoint, as SIGTERM does
  --progress=true|false    progress bar on stderr (default: when stderr is a terminal)
  --heldout=true|false     held-out reconstruction loss before/after (default true)
  --deterministic          deterministic CUDA kernels: bit-exact GPU runs and resumes
                           (CPU runs always are)
  --print_spec             print the effective spec as JSON and exit
  --print_vocab_size       print the tokenizer's vocabulary size (tools/export_torchscript.py)
  --spec_reference         print the field reference (Markdown) and exit
  --spec_proto             print the job spec as a .proto schema (proto/reca/v1/job_spec.proto)
Benchmark helpers:
  --save_init=PATH         write the freshly initialised weights and exit
  --dump_batches=PATH --dump_steps=N   write N steps of batches and exit
  --batches_file=PATH      replay recorded batches instead of the data sources
SIGTERM (or Ctrl-C) commits a checkpoint after the current step and exits 0.
)";

void EnvDefault(const char* env, std::string* out) {
  if (const char* v = std::getenv(env); v && *v) *out = v;
}

reca::StatusOr<int> EnvInt(const char* env, int fallback) {
  const char* v = std::getenv(env);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0') return reca::InvalidArgumentError(std::string(env) + ": '" + v + "' is not an integer");
  return static_cast<int>(x);
}

reca::Status Run(int argc, char** argv) {
  RECA_ASSIGN_OR_RETURN(reca::CliArgs args, reca::CliArgs::Parse(argc, argv));
  bool help = false, print_spec = false, reference = false, proto = false, vocab = false;
  RECA_RETURN_IF_ERROR(args.Get("help", &help));
  RECA_RETURN_IF_ERROR(args.Get("print_vocab_size", &vocab));
  RECA_RETURN_IF_ERROR(args.Get("print_spec", &print_spec));
  RECA_RETURN_IF_ERROR(args.Get("spec_reference", &reference));
  RECA_RETURN_IF_ERROR(args.Get("spec_proto", &proto));
  if (help) {
    std::cout << kUsage;
    return reca::OkStatus();
  }
  if (vocab) {
    std::cout << reca::Tokenizer().vocab_size() << "\n";
    return reca::OkStatus();
  }
  if (reference) {
    std::cout << reca::JobSpecReferenceMarkdown();
    return reca::OkStatus();
  }
  if (proto) {
    std::cout << reca::JobSpecProtoSchema();
    return reca::OkStatus();
  }
  reca::RuntimeOptions rt;
  rt.progress = ::isatty(STDERR_FILENO);
  std::string spec_path;
  RECA_RETURN_IF_ERROR(args.Get("spec", &spec_path));
  RECA_RETURN_IF_ERROR(args.Get("out", &rt.out_dir));
  RECA_RETURN_IF_ERROR(args.Get("resume", &rt.resume));
  RECA_RETURN_IF_ERROR(args.Get("resume_from", &rt.resume_from));
  RECA_RETURN_IF_ERROR(args.Get("resume_manifest_sha256", &rt.resume_manifest_sha256));
  RECA_RETURN_IF_ERROR(args.Get("epoch", &rt.epoch));
  if (rt.epoch < 0) return reca::InvalidArgumentError("--epoch: must be >= 0");
  RECA_RETURN_IF_ERROR(args.Get("keep_checkpoints", &rt.keep_checkpoints));
  std::string data_roots;
  RECA_RETURN_IF_ERROR(args.Get("data_roots", &data_roots));
  RECA_RETURN_IF_ERROR(args.Get("threads", &rt.threads));
  RECA_RETURN_IF_ERROR(args.Get("device", &rt.device));
  RECA_RETURN_IF_ERROR(args.Get("bf16", &rt.bf16));
  RECA_RETURN_IF_ERROR(args.Get("peak_flops", &rt.peak_flops));
  if (rt.peak_flops < 0) return reca::InvalidArgumentError("--peak_flops: must be >= 0 (0 = measure)");
  RECA_ASSIGN_OR_RETURN(rt.dist.rank, EnvInt("RANK", 0));
  RECA_ASSIGN_OR_RETURN(rt.dist.world, EnvInt("WORLD_SIZE", 1));
  RECA_ASSIGN_OR_RETURN(rt.dist.master_port, EnvInt("MASTER_PORT", rt.dist.master_port));
  EnvDefault("MASTER_ADDR", &rt.dist.master_addr);
  RECA_RETURN_IF_ERROR(args.Get("rank", &rt.dist.rank));
  RECA_RETURN_IF_ERROR(args.Get("world_size", &rt.dist.world));
  RECA_RETURN_IF_ERROR(args.Get("master_addr", &rt.dist.master_addr));
  RECA_RETURN_IF_ERROR(args.Get("master_port", &rt.dist.master_port));
  RECA_RETURN_IF_ERROR(args.Get("local_addr", &rt.dist.local_addr));
  RECA_RETURN_IF_ERROR(args.Get("dist_timeout_s", &rt.dist.timeout_s));
  RECA_RETURN_IF_ERROR(args.Get("dist_backend", &rt.dist.backend));
  RECA_RETURN_IF_ERROR(args.Get("checkpoint_barrier_timeout_s", &rt.slow_barrier_timeout_s));
  double bucket_mb = 25;
  RECA_RETURN_IF_ERROR(args.Get("bucket_mb", &bucket_mb));
  rt.dist.bucket_bytes = static_cast<int64_t>(bucket_mb * (1 << 20));
  RECA_RETURN_IF_ERROR(args.Get("stop_after", &rt.stop_after));
  RECA_RETURN_IF_ERROR(args.Get("progress", &rt.progress));
  RECA_RETURN_IF_ERROR(args.Get("heldout", &rt.heldout));
  RECA_RETURN_IF_ERROR(args.Get("deterministic", &rt.deterministic));
  RECA_RETURN_IF_ERROR(args.Get("batches_file", &rt.batches_file));
  std::string dump, save_init;
  int64_t dump_steps = 4;
  RECA_RETURN_IF_ERROR(args.Get("dump_batches", &dump));
  RECA_RETURN_IF_ERROR(args.Get("dump_steps", &dump_steps));
  RECA_RETURN_IF_ERROR(args.Get("save_init", &save_init));

  nlohmann::json tree = nlohmann::json::object();
  if (!spec_path.empty()) {
    RECA_ASSIGN_OR_RETURN(tree, reca::ReadSpecTree(spec_path));
  }
  for (const auto& [path, value] : args.TakeRemaining()) {
    RECA_RETURN_IF_ERROR(reca::ApplyOverride(&tree, path, value));
  }
  reca::StatusOr<reca::JobSpec> spec = reca::JobSpecFromJson(tree);
  if (!spec.ok()) {
    return reca::Status(spec.status().code(),
                        (spec_path.empty() ? "" : spec_path + ": ") + std::string(spec.status().message()));
  }
  if (!data_roots.empty()) {
    reca::PathRoots roots;
    RECA_ASSIGN_OR_RETURN(roots.roots, reca::ParseRoots("data_roots", data_roots));
    RECA_RETURN_IF_ERROR(reca::ConfineSpecPaths(*spec, roots, /*on_disk=*/true));
  }
  if (print_spec) {
    std::cout << reca::JobSpecToJson(*spec).dump(2) << "\n";
    return reca::OkStatus();
  }
  if (!save_init.empty()) {
    RECA_RETURN_IF_ERROR(reca::SaveInitialWeights(*spec, save_init));
    std::cout << "wrote initial weights to " << save_init << "\n";
    return reca::OkStatus();
  }
  if (!dump.empty()) {
    RECA_RETURN_IF_ERROR(reca::DumpBatches(*spec, dump_steps, dump));
    std::cout << "wrote " << dump_steps << " recorded steps to " << dump << "\n";
    return reca::OkStatus();
  }
  return reca::RunTraining(*spec, rt, std::cout).status();
}

}  // namespace

// glibc's malloc serves the large CPU tensors of a step (attention scores,
// activations: megabytes each) with fresh mmaps, or returns the heap's top to
// the kernel, and every step then page-faults its memory in again (medium
// maskgit: 1.7 M faults in 6 steps). A training process holds a steady working
// set, so keep freed memory up to 1 GiB: 60% fewer faults, 4-6% shorter steps
// (bench/RESULTS.md). The MALLOC_*_ environment variables still win.
void KeepFreedMemory() {
  for (const char* env : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(env) != nullptr) return;
  }
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum
  ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
  ::mallopt(M_TOP_PAD, 64 << 20);
}

int main(int argc, char** argv) {
  KeepFreedMemory();
  reca::Status s = Run(argc, argv);
  if (!s.ok()) {
    std::cerr << "reca-train: " << s << "\n";
    return reca::IsUnusableResumeCheckpoint(s) ? reca::kExitResumeCheckpointUnusable : 2;
  }
  return 0;
}
