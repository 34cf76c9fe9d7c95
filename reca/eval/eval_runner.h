// Scores one checkpoint with the evaluation suites (what `reca-eval` runs):
//   shapes_eval  text-to-image over ShapesEval's fixed prompts, judged by the
//                shapes detector under GenEval's rules (per tag + overall);
//   recon        reconstruction of a fixed held-out set of shapes-world scenes
//                from the model's understanding embedding + a template, as the
//                trainer's recon grid does: PSNR, SSIM, held-out recon loss;
//   shapes_edit  editing the fixed ShapesEdit pairs (reca/shapes_edit.h) by
//                their dense instructions, guided on text and image, judged
//                by the detector per category (reca/eval/shapes_edit_eval.h).
// Writes <out_dir>/scores.json (atomically), PNG grids and per-image results.
// Deterministic for fixed options and thread count: each prompt's images are
// drawn from a generator seeded by (seed, the prompt's stable id).
// Runs on the calling thread; LibTorch errors become Status here.
#ifndef RECA_EVAL_EVAL_RUNNER_H_
#define RECA_EVAL_EVAL_RUNNER_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "reca/eval/shapes_edit_eval.h"
#include "reca/eval/shapes_eval.h"
#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

inline constexpr const char* kShapesEvalSuite = "shapes_eval";
inline constexpr const char* kReconSuite = "recon";

struct EvalOptions {
  // a checkpoint directory (verified) or a .safetensors file
  std::string checkpoint;
  std::vector<std::string> suites = {kShapesEvalSuite, kReconSuite};
  std::string out_dir;
  int threads = 1;  // LibTorch intra-op threads
  std::string device = "cpu";
  uint64_t seed = 0;
  int images_per_prompt = 4;
  int prompts_per_tag = kDefaultShapesEvalPromptsPerTag;
  // Sampling as the trainer's grids (job spec `samples`, defaults).
  SampleOptions sampling;
  int recon_images = 16;  // the held-out set (the trainer's first 16 scenes)
  int grid_prompts_per_tag = 2;  // rows of shapes_eval.png per tag
  int edit_pairs_per_category = kDefaultShapesEditPairsPerCategory;
  // shapes_edit: guidance on the source image (families that support it).
  double image_cfg = 2.0;
  // shapes_eval: GenEval's rule settings (upstream's --options), e.g.
  // --geneval_threshold.
  GenEvalOptions geneval;
};

// INVALID_ARGUMENT naming the flag (--suites, --images_per_prompt,
// --geneval_threshold, ...).
Status ValidateEvalOptions(const EvalOptions& options);

struct ShapesEvalScores {
  double overall = 0;
  std::vector<std::pair<std::string, double>> tags;  // ShapesEvalTags() order
  int prompts = 0;
  int images = 0;
  double seconds = 0;
};

struct ReconScores {
  double psnr = 0;  // mean over images, dB (each capped at 100)
  double ssim = 0;  // mean over images
  // the trainer's held-out reconstruction loss (same batch and noise)
  double heldout_loss = 0;
  int images = 0;
  double seconds = 0;
};

struct EvalReport {
  EvalOptions options;  // what produced it (scores.json "settings")
  std::string checkpoint;
  int64_t step = -1;  // from the checkpoint's state.json; -1 when unknown
  std::optional<ShapesEvalScores> shapes_eval;
  std::optional<ReconScores> recon;
  std::optional<ShapesEditSummary> shapes_edit;
  double shapes_edit_seconds = 0;
};

// Loads the model, runs the suites, writes the outputs; returns what it wrote
// to scores.json. NOT_FOUND / DATA_LOSS for a missing or corrupt checkpoint.
StatusOr<EvalReport> RunEval(const EvalOptions& options, std::ostream& log);

// scores.json's text:
//   {"checkpoint": PATH, "step": N,
//    "suites": {"shapes_eval": {"overall": x, "tags": {"single_object": x,
//    ...},
//                               "prompts": P, "images": I, "seconds": s},
//               "recon": {"psnr": x, "ssim": x, "heldout_loss": x, "images": n,
//               "seconds": s}},
//    "settings": {"seed": .., "images_per_prompt": .., "prompts_per_tag": ..,
//    "iters": ..,
//                 "diffusion_steps": .., "cfg": .., "temperature": ..,
//                 "recon_images": .., "device": .., "threads": ..,
//                 with shapes_eval also "geneval_threshold": ..,
//                 "geneval_counting_threshold": .., "geneval_max_objects": ..,
//                 "geneval_max_overlap": .., "geneval_position_threshold": ..}}
// (only the suites that ran).
std::string EvalReportJson(const EvalReport& report);

}  // namespace reca

#endif  // RECA_EVAL_EVAL_RUNNER_H_
