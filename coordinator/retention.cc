#include "coordinator/retention.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace reca::coordinator {

absl::StatusOr<std::optional<BestBy>> ParseKeepBest(
    const std::string& keep_best) {
  if (keep_best.empty()) return std::nullopt;
  BestBy best;
  std::string name = keep_best;
  if (name[0] == '-') {
    best.lower_is_better = true;
    name = name.substr(1);
  }
  const size_t slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.checkpoint.keep_best: expected `suite/metric` or "
                     "`-suite/metric`, got '",
                     keep_best, "'"));
  }
  best.suite = name.substr(0, slash);
  best.metric = name.substr(slash + 1);
  return best;
}

RetentionDecision ApplyRetention(const RetentionInput& in) {
  RetentionDecision out;
  if (in.keep <= 0 || in.steps.empty()) return out;
  if (in.best) {
    for (const auto& [step, value] : in.scores) {
      if (std::isnan(value) ||
          std::find(in.steps.begin(), in.steps.end(), step) ==
              in.steps.end()) {
        continue;
      }
      if (!out.best ||
          (in.best->lower_is_better ? value < in.scores.at(*out.best)
                                    : value > in.scores.at(*out.best))) {
        out.best = step;
      }
    }
  }
  const size_t n = in.steps.size();
  const size_t newest_from =
      n > static_cast<size_t>(in.keep) ? n - static_cast<size_t>(in.keep) : 0;
  for (size_t i = 0; i < newest_from; ++i) {
    const int64_t step = in.steps[i];
    if (out.best == step || in.pinned.count(step)) continue;
    out.drop.push_back(step);
  }
  return out;
}

}  // namespace reca::coordinator
