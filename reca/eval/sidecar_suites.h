// The scoring engines for real models, as files in and files out (what
// `reca-eval --geneval_* / --dpg_* / --imgedit_* / --gedit_*` runs). The
// generated images are judged elsewhere, by upstream's models; this scores
// their output exactly as upstream does:
//   geneval  upstream's evaluation_metadata.jsonl + a detector sidecar (the
//            Mask2Former + CLIP colour results per image, geneval_rules.h)
//            -> per-image correctness (geneval_results.jsonl, upstream's
//            results.jsonl fields), per tag and overall;
//   dpg      DPG-Bench's questions with their dependency graph (our JSON, or
//            upstream's dpg_bench.csv read as upstream reads it, dpg_csv.h)
//            + the VQA model's yes/no answers per image (dpg.h) -> per
//            image, per prompt, per level-1 and level-2 category and overall
//            (x100, as DPG-Bench reports it);
//   imgedit, gedit  the image-editing benchmarks' judge outputs
//            (edit_judges.h) -> per edit type / task group and overall.
// Both become suites of <out_dir>/scores.json, in the same form as the
// checkpoint suites, so the before/after report and `recactl eval` read them
// alike. Torch-free.
#ifndef RECA_EVAL_SIDECAR_SUITES_H_
#define RECA_EVAL_SIDECAR_SUITES_H_

#include <ostream>
#include <string>

#include "reca/eval/edit_judges.h"
#include "reca/eval/geneval_rules.h"
#include "reca/status.h"

namespace reca {

inline constexpr const char* kGenEvalSuite = "geneval";
inline constexpr const char* kDpgSuite = "dpg";

struct SidecarOptions {
  std::string geneval_metadata, geneval_detections;  // both or neither
  GenEvalOptions geneval;  // upstream's --options (--geneval_threshold, ...)
  std::string dpg_questions, dpg_answers;  // both or neither
  // Instead of dpg_questions: upstream's dpg_bench.csv, converted to
  // <out_dir>/dpg_questions.json (and scored when dpg_answers is named).
  std::string dpg_csv;
  bool dpg_keep_first_row = false;  // dpg_csv: read the row upstream skips
  EditJudgeOptions edit;            // imgedit, gedit
  std::string out_dir;
};

// True when any sidecar input is named.
bool HasSidecarInputs(const SidecarOptions& options);

// INVALID_ARGUMENT naming the flag (--geneval_detections: required with
// --geneval_metadata, --geneval_threshold: must be a number in [0, 1], ...).
Status ValidateSidecarOptions(const SidecarOptions& options);

// Scores what is named and writes <out_dir>/scores.json (and, for geneval,
// <out_dir>/geneval_results.jsonl; for dpg_csv, <out_dir>/dpg_questions.json;
// a dpg_csv alone is only converted, and no scores.json is written). Errors
// name the input file.
Status RunSidecarSuites(const SidecarOptions& options, std::ostream& log);

}  // namespace reca

#endif  // RECA_EVAL_SIDECAR_SUITES_H_
