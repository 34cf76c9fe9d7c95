// The evaluator's outbox of ReportScores requests: sent strictly in the order
// they were queued, kept across coordinator outages, never lost to a
// transient error.
#ifndef RECA_EVALUATOR_REPORT_QUEUE_H_
#define RECA_EVALUATOR_REPORT_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include "evaluator/coordinator_client.h"
#include "reca/v1/evaluator_service.pb.h"

namespace reca {

// Not thread-safe. What happens to a report, by the status of its send:
// - OK or ALREADY_EXISTS: done.
// - UNAVAILABLE or DEADLINE_EXCEEDED: kept, and it blocks the ones behind it
//   until a later Flush delivers it, however long the outage.
// - anything else (NOT_FOUND, INVALID_ARGUMENT, ...): the coordinator will
//   not take it; dropped and logged.
class ScoreReportQueue {
 public:
  using Log = std::function<void(const std::string&)>;

  explicit ScoreReportQueue(Log log) : log_(std::move(log)) {}

  void Push(v1::ReportScoresRequest request);

  // Sends queued reports in order until one must wait. Returns how many left.
  size_t Flush(EvaluatorCoordinatorClient& client);

  size_t size() const { return reports_.size(); }
  bool empty() const { return reports_.empty(); }

 private:
  struct Report {
    v1::ReportScoresRequest request;
    int attempts = 0;
  };

  Log log_;
  std::deque<Report> reports_;
};

}  // namespace reca

#endif  // RECA_EVALUATOR_REPORT_QUEUE_H_
