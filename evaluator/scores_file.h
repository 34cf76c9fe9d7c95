// Reading the scores.json that reca-eval writes:
//   {"checkpoint": P, "step": N, "suites": {"shapes_eval": {"overall": x,
//    "tags": {"position": x, ...}, "images": n, ...}, "recon": {"psnr": x,
//    "ssim": x, "heldout_loss": x, ...}}}
// into one map of values per suite.
#ifndef RECA_EVALUATOR_SCORES_FILE_H_
#define RECA_EVALUATOR_SCORES_FILE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace reca {

struct SuiteScores {
  std::string suite;
  // Every numeric leaf of the suite's object by its key ("overall", "psnr",
  // "images", "seconds"); the members of "tags" by their own names
  // ("position"); members of any other nested object as "outer.inner".
  // Or why the suite has no scores (DATA_LOSS: missing or malformed).
  absl::StatusOr<std::map<std::string, double>> values;
};

// One entry per name in `suites`, in that order. A file that is not JSON, or
// whose "checkpoint" is not `checkpoint_path`, fails every suite; a suite
// that is absent, or lacks a value it must have (shapes_eval: "overall" and
// "tags"; recon: "psnr", "ssim", "heldout_loss"; any other: one number)
// fails alone. `source` names the file in messages.
std::vector<SuiteScores> ParseScores(const std::string& text,
                                     const std::vector<std::string>& suites,
                                     const std::string& checkpoint_path,
                                     const std::string& source);

// ParseScores of the file at `path`; an unreadable file fails every suite.
std::vector<SuiteScores> ReadScoresFile(const std::string& path,
                                        const std::vector<std::string>& suites,
                                        const std::string& checkpoint_path);

}  // namespace reca

#endif  // RECA_EVALUATOR_SCORES_FILE_H_
