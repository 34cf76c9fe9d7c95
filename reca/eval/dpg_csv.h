// DPG-Bench's own question file (TencentQQGYLab/ELLA, dpg_bench/dpg_bench.csv)
// read the way upstream's compute_dpg_bench.py (prepare_dpg_data) reads it,
// into the prompts dpg.h scores (`reca-eval --dpg_csv`). Torch-free;
// thread-safe (pure functions).
//
// The CSV has a header row naming its columns (upstream's layout:
// item_id, text, keywords, proposition_id, dependency, category_broad,
// category_detailed, tuple, question_natural_language); columns are found by
// name, extra ones ignored. Quoting is RFC 4180 (pandas' default): quoted
// fields may hold commas, line breaks and "" for a quote; blank lines are
// skipped. Each row is one question: `dependency` is a comma-separated list
// of parent proposition ids (0 = none), `tuple` gives its categories.
//
// What upstream's reading does, and so this does:
//  * it skips the first data row (`if i == 0: continue`, ELLA issue #61):
//    that proposition is missing from the first prompt, which lists it in
//    dropped_by_upstream (dpg.h: a question depending on it fails the
//    prompt, as upstream's KeyError does). keep_first_row reads it instead;
//  * consecutive rows with the same item_id are one prompt; an item_id that
//    comes back after another replaces its earlier questions (a dict
//    assignment), keeping its place;
//  * a proposition_id repeated within a prompt overwrites the earlier
//    question in its place.
// The last two are noted in `notes`; the real file has neither.
#ifndef RECA_EVAL_DPG_CSV_H_
#define RECA_EVAL_DPG_CSV_H_

#include <string>
#include <vector>

#include "reca/eval/dpg.h"
#include "reca/status.h"

namespace reca {

struct DpgCsvOptions {
  // Read the first data row too (what upstream meant; not what it scores).
  bool keep_first_row = false;
};

struct DpgCsvQuestions {
  std::vector<DpgPrompt> prompts;  // in order of first appearance
  std::vector<std::string> notes;  // one line each: what was dropped or merged
};

// Errors (InvalidArgument, naming the line): a missing column, an unterminated
// quote, a row with more fields than the header, an empty item_id or tuple, a
// proposition_id or dependency that is not an integer (list); with the first
// row skipped, a first prompt left without questions.
StatusOr<DpgCsvQuestions> ParseDpgBenchCsv(const std::string& csv_text,
                                           const DpgCsvOptions& options = {});

}  // namespace reca

#endif  // RECA_EVAL_DPG_CSV_H_
