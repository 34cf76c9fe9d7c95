// The job spec's field table (reca/job_spec.h): every field once, with its
// type, default (the struct's initialiser), allowed values (and bounds) and
// meaning. A visitor `v` gets v.Field(name, &value, doc, check),
// v.Struct(name, &sub, doc) and v.List(name, &vector, doc, check) calls in
// declaration order; the
// parser, validator, serialiser, README reference and .proto schema in
// reca/job_spec.cc are such visitors, as the coordinator's protobuf conversion
// will be. Field order is the proto field numbering: append new fields at
// the end of their struct. Torch-free, header-only.
#ifndef RECA_JOB_SPEC_FIELDS_H_
#define RECA_JOB_SPEC_FIELDS_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "reca/job_spec.h"

namespace reca {
namespace spec_fields {

// ---- Bounds --------------------------------------------------------------
// Every integer field has a finite range and every free-text field a byte
// limit, so that no value a client sends can overflow the trainer's
// arithmetic (int64 step and sample counters, double schedules and ETAs) or
// bloat the coordinator's store and its error messages. They are generous
// for real use; the reason for each is next to it. job_spec_test checks that
// every field of the table has one.

// Optimizer steps: 1e8 is three years at one step a second, and keeps step
// counts (and everything compared with them: warm-up, checkpoint, sample and
// log intervals) far inside int64 and exact in the doubles of the cosine
// schedule and the ETA.
inline constexpr int64_t kMaxSteps = 100000000;
// Samples per batch on one rank: 65536 is far above what fits one
// accelerator at any resolution the families train at.
inline constexpr int64_t kMaxBatchPerRank = 65536;
// Batches of one source per step, and sources per job.
inline constexpr int64_t kMaxRepeat = 1024;
inline constexpr size_t kMaxSources = 64;
// Samples one rank loads per step: batch_per_rank x the sources' repeats (a
// product the table cannot express; ValidateJobSpec checks it). With
// kMaxSteps (< 2^27) a rank trains on fewer than 2^47 samples over a run, so
// the data pipeline's global int64 sample cursors (that x the world size;
// the coordinator allows 1024 ranks) stay below 2^57, far from overflow.
inline constexpr int64_t kMaxRankStepSamples = int64_t{1} << 20;
static_assert(kMaxRankStepSamples == 1048576, "the batch_per_rank doc below names it");
// An image side in pixels (model.und_image_size): 4x the largest resolution
// image generators train at; side^2 x 3 x batch stays inside int64.
inline constexpr int64_t kMaxImageSide = 16384;
// Tokens of a prompt or caption: far above any family's text context.
inline constexpr int64_t kMaxTextTokens = 65536;
// Names (job, source): 128 bytes, as the coordinator's request ids, owners,
// worker ids and token names (coordinator/validation.h, auth.cc).
inline constexpr size_t kMaxNameBytes = 128;
// File paths (model.init, model.module, manifests, shards, templates_file):
// Linux's PATH_MAX.
inline constexpr size_t kMaxPathBytes = 4096;
// Short list entries: module names (model.frozen), `key=value` config
// overrides (model.config), `suite/metric` (checkpoint.keep_best).
inline constexpr size_t kMaxEntryBytes = 1024;
// Items of the short lists above.
inline constexpr size_t kMaxListItems = 256;
// webdataset shards of one source listed one by one (brace ranges expand
// one entry into many, so real datasets need far fewer).
inline constexpr size_t kMaxShards = 65536;

// A field's constraint: numeric bounds, a list of allowed strings, a byte
// limit for free text (each item, in a list of strings) and an item limit
// for lists.
struct Check {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  std::vector<std::string> choices;
  size_t max_bytes = 0;  // strings: 0 = unbounded (fields with `choices` need none)
  size_t max_items = 0;  // lists: 0 = unbounded

  // Numbers as written in the README and in errors: integers in full
  // (100000000, not 1e+08), others as the shortest usual form.
  static std::string Num(double v) {
    std::ostringstream s;
    if (std::floor(v) == v && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact
      s << static_cast<long long>(v);
    } else {
      s << v;
    }
    return s.str();
  }

  // The "allowed" column of the README reference (and the proto comments).
  std::string Describe() const {
    std::string out;
    for (size_t i = 0; i < choices.size(); ++i) out += (i ? " \\| `" : "`") + choices[i] + "`";
    out += Range();
    std::string limits;
    if (max_items > 0) limits = "at most " + std::to_string(max_items) + " items";
    if (max_bytes > 0) limits += (limits.empty() ? "" : " of ") + std::string("at most ") +
                                 std::to_string(max_bytes) + " bytes";
    if (!limits.empty()) out += (out.empty() ? "" : "; ") + limits;
    return out;
  }
  // The numeric bounds: "[1, 100000000]", ">= 0", "> 0", or "".
  std::string Range() const {
    const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
    if (has_lo && has_hi) {
      return (lo_open ? "(" : "[") + Num(lo) + ", " + Num(hi) + (hi_open ? ")" : "]");
    }
    if (has_lo) return (lo_open ? "> " : ">= ") + Num(lo);
    if (has_hi) return (hi_open ? "< " : "<= ") + Num(hi);
    return "";
  }
  // An error message for `v`, or "" when it passes.
  std::string Violation(double v) const {
    if (std::isnan(v)) return "must be a number, not NaN";
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi)) {
      if (std::isfinite(lo) && std::isfinite(hi)) return "must be in " + Range();
      return "must be " + Range();
    }
    return "";
  }
  std::string Violation(const std::string& v) const {
    if (max_bytes > 0 && v.size() > max_bytes) return TooLong(v.size(), max_bytes, "bytes");
    if (choices.empty()) return "";
    for (const auto& c : choices) {
      if (c == v) return "";
    }
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    // The value as given, cut: it may be anything a client sent.
    const std::string got = v.size() > 64 ? v.substr(0, 64) + "..." : v;
    return "must be one of " + list + " (got '" + got + "')";
  }
  // A list of `n` items.
  std::string ItemsViolation(size_t n) const {
    if (max_items > 0 && n > max_items) return TooLong(n, max_items, "items");
    return "";
  }
  // "102400 bytes, more than the limit of 128", as the coordinator words it
  // for the whole spec (--max_spec_bytes).
  static std::string TooLong(size_t n, size_t limit, const char* unit) {
    return std::to_string(n) + " " + unit + ", more than the limit of " + std::to_string(limit);
  }
};

inline Check Any() { return {}; }
inline Check AtLeast(double v) { Check c; c.lo = v; return c; }
inline Check Above(double v) { Check c; c.lo = v; c.lo_open = true; return c; }
inline Check Between(double lo, double hi, bool hi_open = false) {
  Check c; c.lo = lo; c.hi = hi; c.hi_open = hi_open; return c;
}
inline Check OneOf(std::vector<std::string> v) { Check c; c.choices = std::move(v); return c; }
// Free text of at most `bytes` bytes.
inline Check Text(size_t bytes) { Check c; c.max_bytes = bytes; return c; }
// A list of at most `items` items, each of at most `bytes` bytes (0: items
// that are not strings, or `choices`).
inline Check Items(size_t items, size_t bytes = 0) { Check c; c.max_items = items; c.max_bytes = bytes; return c; }
inline Check Items(size_t items, std::vector<std::string> choices) {
  Check c = OneOf(std::move(choices)); c.max_items = items; return c;
}

// ---- The field table -----------------------------------------------------
// Each Visit lists a struct's fields once; the visitors below parse,
// serialise, validate and document from it.

template <class V> void Visit(V& v, ModelSpec& s) {
  v.Field("family", &s.family,
          "model family: `mar` (Harmon-like masked autoregressive + per-token diffusion), `flow` "
          "(BAGEL/OpenUni-like rectified flow behind a frozen understanding side), `maskgit` "
          "(Show-o-like masked-token prediction over VQ codes), `torchscript` (your own model: "
          "`module`)", OneOf({"mar", "flow", "maskgit", "torchscript"}));
  v.Field("preset", &s.preset, "size preset of the family", OneOf({"tiny", "medium"}));
  v.Field("init", &s.init,
          "start from these weights: a `.safetensors` file or a checkpoint directory "
          "(its model weights); empty = fresh initialisation from `seed`", Text(kMaxPathBytes));
  v.Field("frozen", &s.frozen,
          "top-level modules (or parameters) that do not train; `[auto]` = the family's RecA "
          "default (mar: none; flow: `vit`, `connector`, `und`; maskgit: `clip`, `vq`), `[]` = "
          "train everything (pre-training)", Items(kMaxListItems, kMaxEntryBytes));
  v.Field("und_image_size", &s.und_image_size,
          "resolution the understanding encoder sees (the information bottleneck; must divide the "
          "image size); 0 = the preset's or the init weights' value", Between(0, kMaxImageSide));
  v.Field("module", &s.module,
          "family `torchscript`: the TorchScript file of your model (the contract: "
          "tools/export_torchscript.py); its parameters' requires_grad decides what trains",
          Text(kMaxPathBytes));
  v.Field("config", &s.config,
          "`key=value` overrides of the family's config, e.g. `[meta_queries=8]` (flow: OpenUni's "
          "learnable queries), `[timestep_shift=3]`, `[vq_condition=1]` (maskgit: condition on the "
          "image's own VQ tokens); the keys are those in the weights' metadata",
          Items(kMaxListItems, kMaxEntryBytes));
}

template <class V> void Visit(V& v, SourceSpec& s) {
  v.Field("name", &s.name, "label in logs and metrics; default `<type>-<task>`", Text(kMaxNameBytes));
  v.Field("type", &s.type,
          "`shapes`: the procedural shapes world (infinite; with task `edit`, its exact edit "
          "pairs); `image_folder`: images listed in a JSONL manifest; `webdataset`: `.tar` shards; "
          "`edit_pairs`: real edit pairs listed in a JSONL manifest (task `edit`)",
          OneOf({"shapes", "image_folder", "webdataset", "edit_pairs"}));
  v.Field("task", &s.task,
          "`recon`: RecA reconstruction (images only); `i2t`: captioning; `t2i`: text-to-image "
          "(both need captions); `edit`: image editing (source image + instruction -> target "
          "image; types `shapes` and `edit_pairs`)", OneOf({"recon", "i2t", "t2i", "edit"}));
  v.Field("repeat", &s.repeat, "batches of `batch_per_rank` samples from this source per step",
          Between(1, kMaxRepeat));
  v.Field("manifest", &s.manifest,
          "image_folder: JSONL file, one `{\"path\": ..., \"caption\": ...}` per line; "
          "edit_pairs: one `{\"source\": ..., \"instruction\": ..., \"target\": ...}` per line "
          "(paths relative to the manifest)", Text(kMaxPathBytes));
  v.Field("shards", &s.shards,
          "webdataset: shard paths, globs or brace ranges (`data/shard-{0000..0099}.tar`); "
          "members `key.jpg` or `key.png` + `key.txt` or `key.json`", Items(kMaxShards, kMaxPathBytes));
  v.Field("dense_captions", &s.dense_captions,
          "shapes: dense captions (and edit instructions) instead of sparse ones", Any());
}

template <class V> void Visit(V& v, DataSpec& s) {
  v.List("sources", &s.sources,
         "the data sources; empty = reconstruction x2 + captioning x2 on the shapes world",
         Items(kMaxSources));
  v.Field("resize", &s.resize,
          "how images become the model's resolution: `center_crop` scales the shorter side and "
          "crops the centre, `stretch` scales both; `auto` = the family's policy (all native families: center_crop)",
          OneOf({"auto", "center_crop", "stretch"}));
  // Each prefetched step holds its batches in memory: 256 is far past useful.
  v.Field("prefetch_steps", &s.prefetch_steps, "steps of batches prepared ahead on the loader thread",
          Between(1, 256));
  v.Field("loader_threads", &s.loader_threads,
          "threads reading and decoding a step's samples in parallel; 0 = min(8, cores / 2)",
          Between(0, 256));
  v.Field("max_bad_samples", &s.max_bad_samples,
          "the job fails when more unreadable samples than this have been skipped ...",
          Between(0, 1e15));  // above the samples any run reads (kMaxSteps x kMaxRankStepSamples)
  v.Field("max_bad_fraction", &s.max_bad_fraction,
          "... and they are more than this fraction of the samples read", Between(0, 1));
}

template <class V> void Visit(V& v, RecaSpec& s) {
  v.Field("recon_weight", &s.recon_weight, "loss weight of the reconstruction batches", AtLeast(0));
  v.Field("i2t_weight", &s.i2t_weight, "loss weight of the captioning batches", AtLeast(0));
  v.Field("t2i_weight", &s.t2i_weight, "loss weight of the text-to-image batches", AtLeast(0));
  v.Field("cfg_drop", &s.cfg_drop,
          "probability of dropping the text of a recon/t2i prompt (classifier-free guidance); "
          "visual tokens are never dropped, except in edit batches, where the instruction and "
          "the source image are each dropped with this probability (guidance on both)",
          Between(0, 1, true));
  v.Field("max_text_tokens", &s.max_text_tokens, "prompt and caption length limit",
          Between(4, kMaxTextTokens));
  v.Field("condition_blur", &s.condition_blur,
          "Gaussian blur (sigma in target pixels) of the image the understanding encoder sees in "
          "reconstruction batches, a further bottleneck against copying; 0 = off", Between(0, 64));
  v.Field("templates_file", &s.templates_file,
          "reconstruction instructions, one per line (blank lines and `#` comments skipped); "
          "empty = the built-in 360 templates", Text(kMaxPathBytes));
  v.Field("collapse_every", &s.collapse_every,
          "copy-collapse check every N steps (and at the end) on a fixed held-out batch, in jobs "
          "with a recon source; 0 = off",
          Between(0, kMaxSteps));
  v.Field("collapse_ratio", &s.collapse_ratio,
          "alarm when the held-out reconstruction loss falls below this fraction of the same "
          "images' text-to-image loss at the start of the run (the model copies its condition)",
          Between(0, 1));
  v.Field("edit_weight", &s.edit_weight, "loss weight of the edit batches", AtLeast(0));
}

template <class V> void Visit(V& v, OptimizerSpec& s) {
  v.Field("lr", &s.lr, "peak learning rate (AdamW)", Above(0));
  v.Field("min_lr", &s.min_lr, "learning rate at the end of the cosine decay", AtLeast(0));
  v.Field("beta1", &s.beta1, "AdamW beta1", Between(0, 1, true));
  v.Field("beta2", &s.beta2, "AdamW beta2", Between(0, 1, true));
  v.Field("eps", &s.eps, "AdamW epsilon", Above(0));
  v.Field("weight_decay", &s.weight_decay, "decoupled weight decay on matrices (not biases/norms)",
          AtLeast(0));
  v.Field("grad_clip", &s.grad_clip, "clip the global gradient norm to this; 0 = off", AtLeast(0));
  v.Field("ema_decay", &s.ema_decay, "EMA of the weights (e.g. 0.9999); 0 = off", Between(0, 1, true));
}

template <class V> void Visit(V& v, ScheduleSpec& s) {
  v.Field("warmup_steps", &s.warmup_steps, "linear warm-up steps; -1 = 1% of `steps`",
          Between(-1, kMaxSteps));
  v.Field("decay", &s.decay, "after warm-up: cosine to `min_lr`, or constant",
          OneOf({"cosine", "constant"}));
}

template <class V> void Visit(V& v, CheckpointSpec& s) {
  v.Field("every", &s.every,
          "commit a checkpoint every N steps; 0 = only at the end (and on SIGTERM)",
          Between(0, kMaxSteps));
  v.Field("keep", &s.keep, "keep the newest N committed checkpoints; 0 = all", Between(0, 1000000));
  v.Field("keep_best", &s.keep_best,
          "also keep the best checkpoint by an evaluator score, `suite/metric` (higher is better, e.g. "
          "`shapes_eval/overall`) or `-suite/metric` (lower is better); the suite must be in "
          "`eval.suites`; empty = none. In the service the coordinator applies `keep` and this",
          Text(kMaxEntryBytes));
}

template <class V> void Visit(V& v, SamplesSpec& s) {
  v.Field("every", &s.every, "write PNG grids every N steps; 0 = only at the end",
          Between(0, kMaxSteps));
  // Also the size of the held-out batch the grids and the collapse check use.
  v.Field("count", &s.count, "images per grid row; 0 = no grids", Between(0, 1024));
  // Rounds are at most the image's tokens (256 at the presets); denoising
  // steps 10x the 1000 of DDPM.
  v.Field("iters", &s.iters, "generation rounds", Between(1, 4096));
  v.Field("diffusion_steps", &s.diffusion_steps, "denoising steps per round", Between(1, 10000));
  v.Field("cfg", &s.cfg, "classifier-free guidance scale; 1 = off", AtLeast(1));
  v.Field("temperature", &s.temperature, "sampling temperature", Above(0));
  v.Field("image_cfg", &s.image_cfg,
          "edit grids: guidance scale on the source image (BAGEL's cfg_img_scale); 1 = off",
          AtLeast(1));
}

template <class V> void Visit(V& v, EvalSpec& s) {
  v.Field("suites", &s.suites,
          "suites the evaluator scores each committed checkpoint with: `shapes_eval` (GenEval's "
          "six tags over the shapes world), `recon` (PSNR, SSIM, held-out reconstruction loss), "
          "`shapes_edit` (editing the shapes world's fixed edit pairs, judged per category); "
          "empty = none", Items(16, {"shapes_eval", "recon", "shapes_edit"}));
  v.Field("every_n_checkpoints", &s.every_n_checkpoints,
          "score every Nth committed checkpoint (the last one always); 0 = only the last",
          Between(0, 1000000));
  v.Field("base", &s.base, "also score the starting weights (`model.init`) once: the before of the before/after",
          Any());
}

template <class V> void Visit(V& v, JobSpec& s) {
  v.Field("name", &s.name, "job name (logs, metrics)", Text(kMaxNameBytes));
  // Any 64-bit value: the seed is only hashed and mixed (unsigned arithmetic,
  // which wraps by definition), never counted with.
  v.Field("seed", &s.seed,
          "seeds the initial weights, the data order and every step's noise", Any());
  v.Field("steps", &s.steps, "optimizer steps", Between(1, kMaxSteps));
  v.Field("batch_per_rank", &s.batch_per_rank,
          "samples per batch on each rank (global batch = ranks x this); this x the sources' "
          "repeats is at most 1048576 (samples per rank per step)",
          Between(1, kMaxBatchPerRank));
  v.Field("log_every", &s.log_every, "a log line every N steps (metrics.jsonl gets every step)",
          Between(1, kMaxSteps));
  v.Struct("model", &s.model, "what to train");
  v.Struct("data", &s.data, "where samples come from");
  v.Struct("reca", &s.reca, "the RecA objective");
  v.Struct("optimizer", &s.optimizer, "AdamW");
  v.Struct("schedule", &s.schedule, "learning-rate schedule");
  v.Struct("checkpoint", &s.checkpoint, "crash-safe checkpoints");
  v.Struct("samples", &s.samples, "PNG grids of reconstructions and samples");
  v.Struct("eval", &s.eval, "scoring of committed checkpoints by the evaluator");
  v.Field("max_restarts", &s.max_restarts,
          "times the coordinator restarts the whole gang from the last committed checkpoint after a "
          "failure a retry can fix (a lost worker, a crashed or killed rank); a fault of the job "
          "itself (spec, data, model, non-finite loss, out of memory) fails it at once",
          Between(0, 1000));
}

}  // namespace spec_fields
}  // namespace reca

#endif  // RECA_JOB_SPEC_FIELDS_H_
