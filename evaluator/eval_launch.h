// How the evaluator runs one task: the `reca-eval` command line, its
// environment and its files under the task's output_dir.
#ifndef RECA_EVALUATOR_EVAL_LAUNCH_H_
#define RECA_EVALUATOR_EVAL_LAUNCH_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/process.h"
#include "reca/v1/evaluator_service.pb.h"

namespace reca {

// reca-eval's GenEval rule flags (upstream's --options: --geneval_threshold,
// ...), each passed only when set, so that reca-eval's defaults (upstream's)
// apply otherwise.
struct GenEvalFlags {
  std::optional<double> threshold, counting_threshold, max_overlap,
      position_threshold;
  std::optional<int> max_objects;
};

struct EvalLaunchOptions {
  std::string eval_binary = "reca-eval";
  int threads = 1;                  // --threads, OPENBLAS/OMP_NUM_THREADS
  int images_per_prompt = 0;        // passed only when > 0
  int prompts_per_tag = 0;          // passed only when > 0
  int edit_pairs_per_category = 0;  // passed only when > 0
  GenEvalFlags geneval;
};

// <output_dir>/scores.json and <output_dir>/reca-eval.log.
std::string ScoresPath(const std::string& output_dir);
std::string EvalLogPath(const std::string& output_dir);

// "job j step s"
std::string TaskLabel(const v1::EvalTask& task);

// Checks the task (checkpoint, suites and output_dir present; suite names
// without commas), creates output_dir and removes a scores.json left there by
// an earlier attempt, so that only this run's file is ever read. reca-eval
// also rewrites the job's report.md/.png in output_dir's parent (the job's eval
// directory, reca/eval/eval_report.h). Returns the
// reca-eval process to start (dies with the evaluator), or INVALID_ARGUMENT /
// the file system's error.
absl::StatusOr<ProcessSpec> PrepareEvalLaunch(const v1::EvalTask& task,
                                              const EvalLaunchOptions& options);

}  // namespace reca

#endif  // RECA_EVALUATOR_EVAL_LAUNCH_H_
