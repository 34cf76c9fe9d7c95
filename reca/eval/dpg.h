// DPG-Bench aggregation (TencentQQGYLab/ELLA, dpg_bench/compute_dpg_bench.py),
// reimplemented: given each prompt's questions with their dependency graph and
// the VQA model's yes/no answers for each generated image, compute the
// per-prompt and benchmark scores as upstream does. Torch-free; thread-safe.
//
// Upstream's rules, which this file follows:
//  * An image's question scores 1 when the answer is exactly "yes", else 0.
//  * Then, in question order, a question with any parent (parent id 0 means
//    none) whose score is currently 0 is set to 0. Because the pass runs in
//    order over already zeroed scores, a "no" propagates down a chain whose
//    parents come first (upstream's CSV lists parents first).
//  * image score = mean over the prompt's questions; prompt score = mean over
//    its images (upstream: the 1-4 crops of one grid file); benchmark score =
//    mean over prompts (reported x100 upstream).
//  * Category scores (upstream quirk, kept): each prompt contributes its
//    questions' *un-zeroed* answers of its *last* image, grouped by the
//    category before "(" of the question's tuple ("entity - whole", level 2)
//    and by its level-1 part before "-" ("entity"); a category's score is the
//    mean over all its contributions.
//  * Upstream reads dpg_bench.csv skipping its first data row (`if i == 0:
//    continue` after pd.read_csv has taken the header; ELLA issue #61), so
//    the first prompt lacks that proposition. When the zeroing pass reaches
//    a parent that is missing, upstream raises KeyError and leaves the whole
//    prompt out of every score ("Failed filename"). A prompt lists such ids
//    in `dropped_by_upstream` (dpg_csv.h writes it); reaching one fails the
//    prompt the same way, and the summary names it. Any other unknown parent
//    is an error.
#ifndef RECA_EVAL_DPG_H_
#define RECA_EVAL_DPG_H_

#include <map>
#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

struct DpgQuestion {
  int id = 0;                // proposition_id (>= 1)
  std::vector<int> parents;  // dependency; 0 = no parent
  std::string tuple;  // e.g. "entity - whole (cat)"; its category is the part
                      // before "("
  std::string question;  // natural-language question (informational)
};

struct DpgPrompt {
  std::string item_id;
  std::vector<DpgQuestion> questions;  // in upstream's order
  // proposition ids upstream's loader dropped (see above); none normally.
  // (Default-initialised so that {item_id, questions} stays complete.)
  std::vector<int> dropped_by_upstream = {};
  std::string text = {};  // the generation prompt (informational)
};

// One image's answers: question id -> the VQA answer ("yes" scores 1).
using DpgAnswers = std::map<int, std::string>;

struct DpgPromptScore {
  double score = 0;  // mean over images
  std::vector<double> image_scores;
  std::map<int, double>
      last_raw;  // question id -> un-zeroed score of the last image
  // Non-empty when upstream fails the prompt (a dropped parent reached): why.
  // Then there are no scores.
  std::string failed;
};

// Scores one prompt over its images. Errors (InvalidArgument): no images, no
// questions, a missing answer, a parent id that is neither a question of the
// prompt nor in dropped_by_upstream.
StatusOr<DpgPromptScore> ScoreDpgPrompt(const DpgPrompt& prompt,
                                        const std::vector<DpgAnswers>& images);

struct DpgSummary {
  // mean over the scored prompts, in [0, 1] (x100 = DPG-Bench)
  double score = 0;
  int prompts = 0;                              // scored (not failed)
  std::map<std::string, double> l1_categories;  // "entity", ... -> mean
  std::map<std::string, double> l2_categories;  // "entity - whole", ... -> mean
  std::map<std::string, DpgPromptScore> per_prompt;  // the scored prompts
  // item_id -> why upstream fails it (see dropped_by_upstream)
  std::map<std::string, std::string> failed;
};

// Scores every prompt that has answers (answers keyed by item_id); an item
// with answers but no questions, or a prompt without answers, is
// InvalidArgument (upstream skips failing files with a message; here nothing is
// silently dropped: the only prompts left out are those upstream fails for its
// dropped first row, listed in `failed`).
StatusOr<DpgSummary> AggregateDpg(
    const std::vector<DpgPrompt>& prompts,
    const std::map<std::string, std::vector<DpgAnswers>>& answers);

// JSON forms:
//   questions: {"prompts": [{"item_id": "...", "questions": [
//                 {"id": 1, "parents": [0], "tuple": "entity - whole (cat)",
//                  "question": "Is there a cat?"}, ...],
//                "dropped_by_upstream": [1],   // optional
//                "text": "..."}, ...]}          // optional
//   answers:   {"<item_id>": [{"1": "yes", "2": "no", ...}, ...one object per
//   image], ...}
StatusOr<std::vector<DpgPrompt>> ParseDpgQuestions(
    const std::string& json_text);
StatusOr<std::map<std::string, std::vector<DpgAnswers>>> ParseDpgAnswers(
    const std::string& json_text);
// The questions form of `prompts` (ParseDpgQuestions reads it back).
std::string DpgQuestionsToJson(const std::vector<DpgPrompt>& prompts);

}  // namespace reca

#endif  // RECA_EVAL_DPG_H_
