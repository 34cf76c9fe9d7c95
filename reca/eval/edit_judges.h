// Image-editing benchmarks judged elsewhere, scored here exactly as upstream
// aggregates its judge's output (files in, files out, like sidecar_suites.h):
//
// ImgEdit-Bench (PKU-YuanGroup/ImgEdit, Benchmark/Basic): a GPT-4.1 judge
// writes, per edited sample, a text with one "<criterion>: <score>" line per
// criterion (three 1-5 scores: e.g. "Prompt Compliance: 4", "Visual
// Seamlessness: 5", "Physical & Detail Fidelity: 3"). Upstream's rules,
// followed here to the digit:
//  * step1_get_avgscore.py: per sample, every line of the text that splits
//    on ": " into exactly two parts whose second part is all digits
//    (str.isdigit) is a score; the sample's score is
//    round(sum / count, 2) (Python's round: half to even on the exact
//    binary value); a sample without any such line is dropped (here: listed
//    in `unscored`, never silently).
//  * step2_typescore.py: per edit type (basic_edit.json's "edit_type": add,
//    alter (the paper's "Adjust"), background, extract, remove, replace,
//    style, action, compose), round(mean of its samples' rounded scores, 2).
//  * overall: ImgEdit's own scripts stop at the per-type scores; BAGEL's
//    copy of step2_typescore.py (ByteDance-Seed/Bagel eval/gen/imgedit/, the
//    evaluation RecA's BAGEL results use) adds
//    overall = round(mean over all scored samples, 2), samples without an
//    edit type included. That is `overall` here (a mean over samples, not
//    over types; `mean_of_types` is the unrounded mean of the type scores,
//    for reference only, upstream reports no such number).
//
// GEdit-Bench (stepfun-ai/Step1X-Edit GEdit-Bench; BAGEL's copy
// eval/gen/gedit/calculate_statistics.py): VIEScore gives each sample SC
// (semantic consistency, 0-10) and PQ (perceptual quality, 0-10). For one
// instruction language ("en" or "cn"; RecA reports GEdit-Bench-EN):
//  * per sample O = sqrt(SC x PQ);
//  * per task group (upstream's 11: background_change, color_alter,
//    material_alter, motion_change, ps_human, style_change, subject-add,
//    subject-remove, subject-replace, text_change, tone_transfer) the means
//    of SC, PQ and O over its samples of that language;
//  * the reported SC / PQ / O are the means over the 11 groups of those
//    group means (unweighted by group size);
//  * the same over the "intersection" subset (samples with
//    Intersection_exist true).
//  Upstream prints NaN when a group has no sample; here such groups are
//  listed in `missing_groups` and the averages are over the groups present
//  (complete() says whether all 11 were). Upstream reads one CSV per group
//  ("<model>_<group>_gpt_score.csv"); the sidecar below carries the group
//  in each line instead.
// Summation: means here add left to right. ImgEdit's Python sum() does the
// same (up to Python 3.11; 3.12 compensates), and its results are rounded to
// two decimals; GEdit's np.mean sums pairwise, so the last bits of a mean
// may differ (~1e-15), far below the three decimals upstream prints.
//
// Sidecar formats (JSONL, one judged sample per line; blank lines and lines
// starting with '#' skipped):
//   imgedit: {"key": "1082", "edit_type": "alter",
//             "judgement": "Brief reasoning: ...\nPrompt Compliance: 1\n..."}
//            or, instead of "judgement", "scores": [1, 1, 1] (the parsed
//            criteria). Upstream's own pair of files (result.json: key ->
//            judge text; basic_edit.json: key -> {"edit_type": ...}) is read
//            by ReadImgEditUpstream.
//   gedit:   {"key": "...", "task_type": "subject-add",
//             "instruction_language": "en", "intersection_exist": true,
//             "semantics_score": 8, "quality_score": 7}
//            (upstream's CSV spelling "sementics_score" is accepted too), or
//            upstream's per-group CSVs themselves (ParseGEditUpstreamCsv).
// Errors are InvalidArgument naming "<file>:<line>: " and the field
// ("\"quality_score\" must be a number in [0, 10]"). Torch-free; thread-safe
// (pure functions, except the file reading and writing of the Run* entry).
#ifndef RECA_EVAL_EDIT_JUDGES_H_
#define RECA_EVAL_EDIT_JUDGES_H_

#include <ostream>
#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

inline constexpr const char* kImgEditSuite = "imgedit";
inline constexpr const char* kGEditSuite = "gedit";

// ---- ImgEdit ----

struct ImgEditJudgement {
  std::string key;
  std::string edit_type;  // empty: the sample has no type (overall only)
  std::vector<int> scores;  // the criteria, as step1 parses them
  std::string origin;       // "<file>:<line>" (or "<file>: key K")
};

// Upstream's step1 parsing of a judge text: the scores it finds, in order.
std::vector<int> ParseImgEditJudgeText(const std::string& text);
// Python's round(x, 2) for a double.
double RoundHalfEven2(double x);

struct ImgEditTypeScore {
  std::string edit_type;
  int samples = 0;
  double score = 0;  // round(mean of rounded sample scores, 2)
};

struct ImgEditSummary {
  double overall = 0;        // round(mean over scored samples, 2)
  double mean_of_types = 0;  // unrounded mean of the type scores (not upstream)
  int samples = 0;           // scored samples
  std::vector<ImgEditTypeScore> types;  // in order of first appearance
  std::vector<std::string> unscored;    // origins of samples without a score
};

// Aggregates as upstream. Duplicate keys are InvalidArgument naming both
// origins; no scored sample at all is InvalidArgument.
StatusOr<ImgEditSummary> AggregateImgEdit(
    const std::vector<ImgEditJudgement>& samples);

// The JSONL sidecar; `path` names the file in messages.
StatusOr<std::vector<ImgEditJudgement>> ParseImgEditJsonl(
    const std::string& text, const std::string& path);
// Upstream's result.json (key -> judge text) and basic_edit.json (key ->
// {"edit_type": ...}); a key of the results missing from the metadata has
// no type (upstream: counted in the overall only). Errors name the file, the
// line of the key and the key.
StatusOr<std::vector<ImgEditJudgement>> ParseImgEditUpstream(
    const std::string& results_text, const std::string& results_path,
    const std::string& meta_text, const std::string& meta_path);

// ---- GEdit ----

// Upstream's 11 task groups, in its order.
const std::vector<std::string>& GEditGroups();

struct GEditJudgement {
  std::string key;
  std::string task_type;  // one of GEditGroups()
  std::string language;   // "en" or "cn"
  bool intersection = false;
  double semantics = 0;  // SC, 0..10
  double quality = 0;    // PQ, 0..10
  std::string origin;    // "<file>:<line>"
};

struct GEditGroupScore {
  std::string group;
  int samples = 0;
  double semantics = 0, quality = 0, overall = 0;  // means over its samples
};

struct GEditSubsetScores {
  double semantics = 0, quality = 0, overall = 0;  // means over groups
  int samples = 0;
  std::vector<GEditGroupScore> groups;      // GEditGroups() order, present only
  std::vector<std::string> missing_groups;  // groups without a sample
  bool complete() const { return missing_groups.empty(); }
};

struct GEditSummary {
  std::string language;
  GEditSubsetScores fullset, intersection;
  int other_language = 0;  // samples of the other language (ignored)
};

// Aggregates the samples of `language` ("en" or "cn") as upstream. Duplicate
// (key, language) pairs and no sample of the language are InvalidArgument.
StatusOr<GEditSummary> AggregateGEdit(
    const std::vector<GEditJudgement>& samples, const std::string& language);

StatusOr<std::vector<GEditJudgement>> ParseGEditJsonl(const std::string& text,
                                                      const std::string& path);
// Upstream's own output: one CSV per group, "<model>_<group>_gpt_score.csv"
// (test_gedit_score.py: a header, then source_image, edited_image,
// instruction, sementics_score, quality_score, intersection_exist
// (True/False), instruction_language; quoted fields as Python's csv module
// writes them). The key is edited_image; the group is `group`, or, when
// empty, the one the file name ends with ("_<group>_gpt_score.csv").
StatusOr<std::vector<GEditJudgement>> ParseGEditUpstreamCsv(
    const std::string& text, const std::string& path,
    const std::string& group = "");

// ---- As suites of <out_dir>/scores.json ----

// The suite objects (JSON text), in scores.json's form: numbers the report
// reads ("overall", per type / group, the intersection subset) plus counts.
std::string ImgEditSummaryJson(const ImgEditSummary& summary);
std::string GEditSummaryJson(const GEditSummary& summary);

struct EditJudgeOptions {
  std::string imgedit_judgements;  // the JSONL sidecar, or
  std::string imgedit_results, imgedit_meta;  // upstream's two files
  std::string gedit_judgements;               // the JSONL sidecar, or
  std::vector<std::string> gedit_csvs;        // upstream's per-group CSVs
  std::string gedit_language = "en";
};

bool HasEditJudgeInputs(const EditJudgeOptions& options);
// INVALID_ARGUMENT naming the flag (--imgedit_meta: required with
// --imgedit_results, ...).
Status ValidateEditJudgeOptions(const EditJudgeOptions& options);
// Scores what is named: {"suites": {"imgedit": ..., "gedit": ...},
// "settings": {...}} as JSON text, which RunSidecarSuites (sidecar_suites.h,
// `reca-eval --imgedit_* / --gedit_*`) writes into scores.json with the
// other sidecar suites. Errors name the input file.
StatusOr<std::string> ScoreEditJudgeSuites(const EditJudgeOptions& options,
                                           std::ostream& log);

}  // namespace reca

#endif  // RECA_EVAL_EDIT_JUDGES_H_
