#include "evaluator/eval_launch.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "reca/file_util.h"
#include "reca/status.h"

namespace reca {

std::string ScoresPath(const std::string& output_dir) {
  return output_dir + "/scores.json";
}

std::string EvalLogPath(const std::string& output_dir) {
  return output_dir + "/reca-eval.log";
}

namespace {

// The shortest %g text that reads back as exactly `v` (0.3 -> "0.3").
std::string ExactNumber(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

std::string TaskLabel(const v1::EvalTask& task) {
  return absl::StrCat("job ", task.job_id(), " step ", task.step());
}

absl::StatusOr<ProcessSpec> PrepareEvalLaunch(const v1::EvalTask& task,
                                              const EvalLaunchOptions& o) {
  if (task.checkpoint_path().empty())
    return absl::InvalidArgumentError("task: empty checkpoint_path");
  if (task.output_dir().empty())
    return absl::InvalidArgumentError("task: empty output_dir");
  if (task.suites().empty())
    return absl::InvalidArgumentError("task: no suites");
  for (const std::string& suite : task.suites()) {
    if (suite.empty() || absl::StrContains(suite, ','))
      return absl::InvalidArgumentError(
          absl::StrCat("task: bad suite name '", suite, "'"));
  }
  RECA_RETURN_IF_ERROR(MakeDirs(task.output_dir()));
  const std::string scores = ScoresPath(task.output_dir());
  if (std::remove(scores.c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus("remove", scores, errno);

  const int threads = o.threads > 0 ? o.threads : 1;
  ProcessSpec p;
  p.argv = {o.eval_binary, "--checkpoint=" + task.checkpoint_path(),
            "--suites=" + absl::StrJoin(task.suites(), ","),
            "--out=" + task.output_dir(),
            // The job's eval directory: the before/after report over its steps.
            "--report_dir=" + DirName(task.output_dir()),
            absl::StrCat("--threads=", threads)};
  if (o.images_per_prompt > 0)
    p.argv.push_back(absl::StrCat("--images_per_prompt=", o.images_per_prompt));
  if (o.prompts_per_tag > 0)
    p.argv.push_back(absl::StrCat("--prompts_per_tag=", o.prompts_per_tag));
  if (o.edit_pairs_per_category > 0)
    p.argv.push_back(
        absl::StrCat("--edit_pairs_per_category=", o.edit_pairs_per_category));
  const GenEvalFlags& g = o.geneval;
  for (const auto& [flag, value] :
       {std::make_pair("threshold", g.threshold),
        std::make_pair("counting_threshold", g.counting_threshold),
        std::make_pair("max_overlap", g.max_overlap),
        std::make_pair("position_threshold", g.position_threshold)}) {
    if (value)
      p.argv.push_back(
          absl::StrCat("--geneval_", flag, "=", ExactNumber(*value)));
  }
  if (g.max_objects)
    p.argv.push_back(absl::StrCat("--geneval_max_objects=", *g.max_objects));
  // Without these OpenBLAS and OpenMP start a thread per core.
  p.env = {{"OPENBLAS_NUM_THREADS", absl::StrCat(threads)},
           {"OMP_NUM_THREADS", absl::StrCat(threads)}};
  p.log_path = EvalLogPath(task.output_dir());
  p.die_with_parent = true;  // a crashed evaluator leaves no scorer behind
  return p;
}

}  // namespace reca
