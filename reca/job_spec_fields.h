// The job spec's field table (reca/job_spec.h): every field once, with its
// type, default (the struct's initialiser), allowed values and meaning. A
// visitor `v` gets v.Field(name, &value, doc, check), v.Struct(name, &sub,
// doc) and v.List(name, &vector, doc) calls in declaration order; the
// parser, validator, serialiser, README reference and .proto schema in
// reca/job_spec.cc are such visitors, as the coordinator's protobuf conversion
// will be. Field order is the proto field numbering: append new fields at
// the end of their struct. Torch-free, header-only.
#ifndef RECA_JOB_SPEC_FIELDS_H_
#define RECA_JOB_SPEC_FIELDS_H_

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "reca/job_spec.h"

namespace reca {
namespace spec_fields {

// A field's constraint: numeric bounds and/or a list of allowed strings.
struct Check {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  std::vector<std::string> choices;

  std::string Describe() const {
    std::ostringstream os;
    if (!choices.empty()) {
      for (size_t i = 0; i < choices.size(); ++i) os << (i ? " \\| " : "") << "`" << choices[i] << "`";
      return os.str();
    }
    auto num = [](double v) {
      std::ostringstream s;
      s << v;
      return s.str();
    };
    const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
    if (has_lo && has_hi) {
      os << (lo_open ? "(" : "[") << num(lo) << ", " << num(hi) << (hi_open ? ")" : "]");
    } else if (has_lo) {
      os << (lo_open ? "> " : ">= ") << num(lo);
    } else if (has_hi) {
      os << (hi_open ? "< " : "<= ") << num(hi);
    }
    return os.str();
  }
  // An error message for `v`, or "" when it passes.
  std::string Violation(double v) const {
    if (std::isnan(v)) return "must be a number, not NaN";
    const std::string d = Describe();
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi)) {
      if (std::isfinite(lo) && std::isfinite(hi)) return "must be in " + d;
      return "must be " + d;
    }
    return "";
  }
  std::string Violation(const std::string& v) const {
    if (choices.empty()) return "";
    for (const auto& c : choices) {
      if (c == v) return "";
    }
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    return "must be one of " + list + " (got '" + v + "')";
  }
};

inline Check Any() { return {}; }
inline Check AtLeast(double v) { Check c; c.lo = v; return c; }
inline Check Above(double v) { Check c; c.lo = v; c.lo_open = true; return c; }
inline Check Between(double lo, double hi, bool hi_open = false) {
  Check c; c.lo = lo; c.hi = hi; c.hi_open = hi_open; return c;
}
inline Check OneOf(std::vector<std::string> v) { Check c; c.choices = std::move(v); return c; }

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
          "(its model weights); empty = fresh initialisation from `seed`", Any());
  v.Field("frozen", &s.frozen,
          "top-level modules (or parameters) that do not train; `[auto]` = the family's RecA "
          "default (mar: none; flow: `vit`, `connector`, `und`; maskgit: `clip`, `vq`), `[]` = "
          "train everything (pre-training)", Any());
  v.Field("und_image_size", &s.und_image_size,
          "resolution the understanding encoder sees (the information bottleneck; must divide the "
          "image size); 0 = the preset's or the init weights' value", AtLeast(0));
  v.Field("module", &s.module,
          "family `torchscript`: the TorchScript file of your model (the contract: "
          "tools/export_torchscript.py); its parameters' requires_grad decides what trains", Any());
  v.Field("config", &s.config,
          "`key=value` overrides of the family's config, e.g. `[meta_queries=8]` (flow: OpenUni's "
          "learnable queries), `[timestep_shift=3]`, `[vq_condition=1]` (maskgit: condition on the "
          "image's own VQ tokens); the keys are those in the weights' metadata", Any());
}

template <class V> void Visit(V& v, SourceSpec& s) {
  v.Field("name", &s.name, "label in logs and metrics; default `<type>-<task>`", Any());
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
          AtLeast(1));
  v.Field("manifest", &s.manifest,
          "image_folder: JSONL file, one `{\"path\": ..., \"caption\": ...}` per line; "
          "edit_pairs: one `{\"source\": ..., \"instruction\": ..., \"target\": ...}` per line "
          "(paths relative to the manifest)", Any());
  v.Field("shards", &s.shards,
          "webdataset: shard paths, globs or brace ranges (`data/shard-{0000..0099}.tar`); "
          "members `key.jpg` or `key.png` + `key.txt` or `key.json`", Any());
  v.Field("dense_captions", &s.dense_captions,
          "shapes: dense captions (and edit instructions) instead of sparse ones", Any());
}

template <class V> void Visit(V& v, DataSpec& s) {
  v.List("sources", &s.sources,
         "the data sources; empty = reconstruction x2 + captioning x2 on the shapes world");
  v.Field("resize", &s.resize,
          "how images become the model's resolution: `center_crop` scales the shorter side and "
          "crops the centre, `stretch` scales both; `auto` = the family's policy (all native families: center_crop)",
          OneOf({"auto", "center_crop", "stretch"}));
  v.Field("prefetch_steps", &s.prefetch_steps, "steps of batches prepared ahead on the loader thread",
          AtLeast(1));
  v.Field("loader_threads", &s.loader_threads,
          "threads reading and decoding a step's samples in parallel; 0 = min(8, cores / 2)",
          Between(0, 256));
  v.Field("max_bad_samples", &s.max_bad_samples,
          "the job fails when more unreadable samples than this have been skipped ...", AtLeast(0));
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
  v.Field("max_text_tokens", &s.max_text_tokens, "prompt and caption length limit", AtLeast(4));
  v.Field("condition_blur", &s.condition_blur,
          "Gaussian blur (sigma in target pixels) of the image the understanding encoder sees in "
          "reconstruction batches, a further bottleneck against copying; 0 = off", Between(0, 64));
  v.Field("templates_file", &s.templates_file,
          "reconstruction instructions, one per line (blank lines and `#` comments skipped); "
          "empty = the built-in 360 templates", Any());
  v.Field("collapse_every", &s.collapse_every,
          "copy-collapse check every N steps (and at the end) on a fixed held-out batch, in jobs "
          "with a recon source; 0 = off",
          AtLeast(0));
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
  v.Field("warmup_steps", &s.warmup_steps, "linear warm-up steps; -1 = 1% of `steps`", AtLeast(-1));
  v.Field("decay", &s.decay, "after warm-up: cosine to `min_lr`, or constant",
          OneOf({"cosine", "constant"}));
}

template <class V> void Visit(V& v, CheckpointSpec& s) {
  v.Field("every", &s.every,
          "commit a checkpoint every N steps; 0 = only at the end (and on SIGTERM)", AtLeast(0));
  v.Field("keep", &s.keep, "keep the newest N committed checkpoints; 0 = all", Between(0, 1000000));
  v.Field("keep_best", &s.keep_best,
          "also keep the best checkpoint by an evaluator score, `suite/metric` (higher is better, e.g. "
          "`shapes_eval/overall`) or `-suite/metric` (lower is better); the suite must be in "
          "`eval.suites`; empty = none. In the service the coordinator applies `keep` and this",
          Any());
}

template <class V> void Visit(V& v, SamplesSpec& s) {
  v.Field("every", &s.every, "write PNG grids every N steps; 0 = only at the end", AtLeast(0));
  v.Field("count", &s.count, "images per grid row; 0 = no grids", AtLeast(0));
  v.Field("iters", &s.iters, "generation rounds", AtLeast(1));
  v.Field("diffusion_steps", &s.diffusion_steps, "denoising steps per round", AtLeast(1));
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
          "empty = none", OneOf({"shapes_eval", "recon", "shapes_edit"}));
  v.Field("every_n_checkpoints", &s.every_n_checkpoints,
          "score every Nth committed checkpoint (the last one always); 0 = only the last",
          AtLeast(0));
  v.Field("base", &s.base, "also score the starting weights (`model.init`) once: the before of the before/after",
          Any());
}

template <class V> void Visit(V& v, JobSpec& s) {
  v.Field("name", &s.name, "job name (logs, metrics)", Any());
  v.Field("seed", &s.seed,
          "seeds the initial weights, the data order and every step's noise", Any());
  v.Field("steps", &s.steps, "optimizer steps", AtLeast(1));
  v.Field("batch_per_rank", &s.batch_per_rank,
          "samples per batch on each rank (global batch = ranks x this)", AtLeast(1));
  v.Field("log_every", &s.log_every, "a log line every N steps (metrics.jsonl gets every step)",
          AtLeast(1));
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
          AtLeast(0));
}

}  // namespace spec_fields
}  // namespace reca

#endif  // RECA_JOB_SPEC_FIELDS_H_
