// A daemon's outbox of reports to the coordinator (the worker's checkpoint
// and exit reports, the evaluator's scores): sent strictly in the order they
// were queued, kept across coordinator outages, never lost to a transient
// error. By the status of a send:
// - OK or ALREADY_EXISTS (recorded before): done.
// - UNAVAILABLE or DEADLINE_EXCEEDED: kept and sent again on the next Flush,
//   however long the outage.
// - FAILED_PRECONDITION (a stale epoch), INVALID_ARGUMENT, OUT_OF_RANGE,
//   UNIMPLEMENTED: the coordinator will never take it; dropped and logged.
// - anything else (NOT_FOUND while a lease is being replaced, INTERNAL, ...):
//   kept for up to `max_attempts` sends, then dropped and logged.
// A report that is kept blocks the ones behind it. Not thread-safe.
#ifndef RECA_COMMON_REPORT_OUTBOX_H_
#define RECA_COMMON_REPORT_OUTBOX_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"

namespace reca {

class ReportOutbox {
 public:
  using Log = std::function<void(const std::string&)>;
  // Sends the report once (filling in whatever is current, e.g. the lease).
  using Send = std::function<absl::Status()>;

  ReportOutbox(int max_attempts, Log log)
      : max_attempts_(max_attempts), log_(std::move(log)) {}

  // `what` names the report in log lines ("job j1 epoch 3 rank 0: exit").
  void Push(std::string what, Send send) {
    reports_.push_back({std::move(what), std::move(send), 0});
  }

  // Sends queued reports in order until one must wait. Returns how many left.
  size_t Flush();

  size_t size() const { return reports_.size(); }
  bool empty() const { return reports_.empty(); }

 private:
  struct Report {
    std::string what;
    Send send;
    int attempts;
  };

  int max_attempts_;
  Log log_;
  std::deque<Report> reports_;
};

}  // namespace reca

#endif  // RECA_COMMON_REPORT_OUTBOX_H_
