#include "coordinator/retention.h"

#include <algorithm>
#include <cmath>


namespace reca::coordinator {

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
