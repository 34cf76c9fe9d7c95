// The before/after report of one job's evaluations. The evaluator scores each
// checkpoint into <eval_dir>/step-NNNNNNNN/ (scores.json + PNG grids; the
// base, the model the job started from, is step 0); this compares the first
// scored step with the latest one and writes
//   <eval_dir>/report.md   every metric of every suite both scored: first,
//                          latest, change (per ShapesEval tag, PSNR, ...);
//   <eval_dir>/report.png  each grid both wrote (shapes_eval.png, recon.png),
//                          the first step's left of the latest's (above it
//                          for a wide grid), so the same prompts and held-out
//                          scenes line up.
// Torch-free; a pure function of the files, so whichever scorer finishes last
// leaves the up-to-date report, and `reca-eval --report_dir=DIR` rebuilds it.
#ifndef RECA_EVAL_EVAL_REPORT_H_
#define RECA_EVAL_EVAL_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

struct ScoredStep {
  int64_t step = 0;
  std::string dir;  // <eval_dir>/step-NNNNNNNN
};

// The step directories under `eval_dir` that hold a scores.json, by step.
// NOT_FOUND when `eval_dir` does not exist.
StatusOr<std::vector<ScoredStep>> ListScoredSteps(const std::string& eval_dir);

struct ComparisonReport {
  bool written = false;  // false: fewer than two scored steps yet
  int64_t first_step = 0, latest_step = 0;
  std::string markdown_path, png_path;  // png_path empty when no grid pairs
};

// Writes report.md and report.png (atomically) when two or more steps are
// scored. Errors name the file (a scores.json that is not JSON, a grid that is
// not a PNG).
StatusOr<ComparisonReport> WriteComparisonReport(const std::string& eval_dir);

}  // namespace reca

#endif  // RECA_EVAL_EVAL_REPORT_H_
