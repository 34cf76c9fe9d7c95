// The job spec: everything that defines one training job (model, data,
// RecA knobs, optimizer, schedule, checkpoints, seed). Users write it as
// YAML. These structs and the field table in job_spec_fields.h are the single
// definition: parsing, validation, serialisation, the README's field
// reference (`reca-train --spec_reference`) and the gRPC message
// proto/reca/v1/job_spec.proto (`reca-train --spec_proto`) all come from the
// table. Torch-free.
#ifndef RECA_JOB_SPEC_H_
#define RECA_JOB_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "reca/status.h"

namespace reca {

struct ModelSpec {
  std::string family = "mar";
  std::string preset = "tiny";
  std::string init;  // safetensors weights or a checkpoint directory; empty = fresh init
  std::vector<std::string> frozen = {"auto"};  // top-level modules; ["auto"] = the family's default
  int64_t und_image_size = 0;  // 0 = the preset's (or the init weights') value
  std::string module;  // torchscript: the scripted model (.pt)
  std::vector<std::string> config;  // "key=value" overrides of the preset's config
};

struct SourceSpec {
  std::string name;              // defaults to "<type>-<task>"
  std::string type = "shapes";   // shapes | image_folder | webdataset | edit_pairs
  std::string task = "recon";    // recon | i2t | t2i | edit
  int64_t repeat = 1;            // batches of batch_per_rank per step
  std::string manifest;          // image_folder, edit_pairs: JSONL manifest
  std::vector<std::string> shards;  // webdataset: paths, globs, brace ranges
  bool dense_captions = false;   // shapes: dense instead of sparse captions
};

struct DataSpec {
  std::vector<SourceSpec> sources;  // empty = the RecA default (see DefaultSources)
  std::string resize = "auto";  // auto (the family's policy) | center_crop | stretch
  int64_t prefetch_steps = 2;
  int64_t loader_threads = 0;  // 0 = min(8, cores / 2), at least 1
  int64_t max_bad_samples = 100;
  double max_bad_fraction = 0.01;
};

struct RecaSpec {
  double recon_weight = 1.0, i2t_weight = 1.0, t2i_weight = 1.0;
  double cfg_drop = 0.1;
  int64_t max_text_tokens = 40;
  double condition_blur = 0;   // Gaussian sigma (target pixels) on the recon condition image
  std::string templates_file;  // one reconstruction instruction per line; empty = the built-in 360
  int64_t collapse_every = 50;   // copy-collapse check every N steps; 0 = off
  double collapse_ratio = 0.2;   // alarm when held-out recon loss < this x the t2i loss
  double edit_weight = 1.0;
};

struct OptimizerSpec {
  double lr = 5e-4;
  double min_lr = 0.0;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.02;
  double grad_clip = 1.0;
  double ema_decay = 0.0;
};

struct ScheduleSpec {
  int64_t warmup_steps = -1;  // -1 = 1% of steps (Harmon)
  std::string decay = "cosine";  // cosine | constant
};

struct CheckpointSpec {
  int64_t every = 0;  // 0 = only at the end (and on SIGTERM)
  int64_t keep = 3;   // newest N committed checkpoints; 0 = all
  std::string keep_best;  // also the best by an eval score: "[-]suite/metric"; empty = none
};

struct SamplesSpec {
  int64_t every = 0;  // PNG grids every N steps; 0 = only at the end
  int64_t count = 8;  // columns per grid; 0 = no grids
  int64_t iters = 8;
  int64_t diffusion_steps = 50;
  double cfg = 3.0;
  double temperature = 1.0;
  double image_cfg = 2.0;  // edit grids: guidance on the source image; 1 = off
};

// What the evaluator scores (evaluator/, reca-eval); the trainer ignores it.
struct EvalSpec {
  std::vector<std::string> suites;  // empty = no evaluation
  int64_t every_n_checkpoints = 1;  // 0 = only the last
  bool base = true;                 // also score the starting weights (model.init) once
};

struct JobSpec {
  std::string name = "reca-job";
  uint64_t seed = 0;
  int64_t steps = 1000;
  int64_t batch_per_rank = 16;
  int64_t log_every = 10;
  int64_t max_restarts = 3;  // the coordinator's restart policy (reca-train ignores it)
  ModelSpec model;
  DataSpec data;
  RecaSpec reca;
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  CheckpointSpec checkpoint;
  SamplesSpec samples;
  EvalSpec eval;

  // Effective values after defaults that depend on other fields.
  int64_t warmup_steps() const;
  std::vector<SourceSpec> effective_sources() const;
  // data.resize with "auto" resolved: the model family's own policy
  // (mar: centre crop, as MAR / ADM preprocess).
  std::string effective_resize() const;
};

// The RecA recipe of `family` on the shapes world: reconstruction x2 plus,
// for shared-weight models (mar, maskgit), captioning x2; decoupled models
// (flow) keep their understanding side frozen and get no captioning stream;
// a torchscript model gets reconstruction only (add i2t if it shares weights).
std::vector<SourceSpec> DefaultSources(const std::string& family = "mar");

// Parses a JSON tree (a YAML file converted by ReadJobSpecFile, or the
// coordinator's message) into a spec, then validates it. Missing fields keep
// their defaults; unknown fields, wrong types and out-of-range values are
// INVALID_ARGUMENT naming the field: "spec.optimizer.lr: must be > 0".
StatusOr<JobSpec> JobSpecFromJson(const nlohmann::json& tree);
// Every field, defaults included (the canonical form stored in checkpoints).
nlohmann::json JobSpecToJson(const JobSpec& spec);
// Field-level checks (also run by JobSpecFromJson).
Status ValidateJobSpec(const JobSpec& spec);

// `key=value` entries (model.config) as a map; an entry without a key, an
// '=' or a value is INVALID_ARGUMENT naming `field`[i].
StatusOr<std::map<std::string, std::string>> ParseConfigEntries(const std::vector<std::string>& entries,
                                                                const std::string& field);

// checkpoint.keep_best parsed: "suite/metric" (higher is better) or
// "-suite/metric" (lower is better).
struct KeepBest {
  std::string suite;
  std::string metric;
  bool lower_is_better = false;
};
// An empty `keep_best` is nullopt; a malformed one INVALID_ARGUMENT naming
// spec.checkpoint.keep_best.
StatusOr<std::optional<KeepBest>> ParseKeepBest(const std::string& keep_best);

// Sets `path` ("optimizer.lr", "data.sources.0.repeat") in `tree` to
// `value`, read as a JSON literal when it is one (3, 1e-4, true, [..]) and
// as a string otherwise: command-line overrides of spec fields.
Status ApplyOverride(nlohmann::json* tree, const std::string& path, const std::string& value);

// The field reference as a Markdown table (README.md "Job spec reference").
std::string JobSpecReferenceMarkdown();
// The same structure as a .proto file (proto/reca/v1/job_spec.proto): the
// gRPC job spec, message for message and field for field.
std::string JobSpecProtoSchema();

}  // namespace reca

#endif  // RECA_JOB_SPEC_H_
