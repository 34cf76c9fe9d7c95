// A job's checkpoint retention policy (spec.checkpoint.keep / keep_best),
// applied by the coordinator to the checkpoints it recorded: which ones to
// drop now. Pure: the caller reads the records and scores and carries out
// the decision (retire the records, have a worker delete the directories).
#ifndef RECA_COORDINATOR_RETENTION_H_
#define RECA_COORDINATOR_RETENTION_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reca/job_spec.h"

namespace reca::coordinator {

struct RetentionInput {
  std::vector<int64_t> steps;  // recorded, not yet retired, ascending
  int64_t keep = 0;            // the newest N; <= 0 keeps all
  std::optional<KeepBest> best;  // spec.checkpoint.keep_best
  std::map<int64_t, double> scores;  // step -> best's metric, where scored
  std::set<int64_t> pinned;          // not dropped now (evaluation pending)
};

struct RetentionDecision {
  std::vector<int64_t> drop;       // ascending
  std::optional<int64_t> best;     // the step kept as the best, if any
};

// Keeps the newest `keep`, the best scored one (the earliest on a tie), and
// the pinned ones; drops the rest. The newest checkpoint (the resume point)
// is never dropped.
RetentionDecision ApplyRetention(const RetentionInput& input);

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_RETENTION_H_
