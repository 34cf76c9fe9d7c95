// The worker's outbox of checkpoint and exit reports: sent strictly in the
// order they were queued, kept across coordinator outages, never lost to a
// transient error.
#ifndef RECA_WORKER_REPORT_QUEUE_H_
#define RECA_WORKER_REPORT_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include "reca/v1/worker_service.pb.h"
#include "worker/coordinator_client.h"

namespace reca {

// Not thread-safe. What happens to a report, by the status of its send:
// - OK or ALREADY_EXISTS (recorded before): done.
// - UNAVAILABLE or DEADLINE_EXCEEDED: kept and sent again on the next Flush,
//   however long the outage.
// - FAILED_PRECONDITION (stale epoch), INVALID_ARGUMENT, OUT_OF_RANGE,
//   UNIMPLEMENTED: the coordinator will never take it; dropped, logged.
// - anything else (NOT_FOUND for a lease being replaced, INTERNAL, ...):
//   kept for up to `max_attempts` sends, then dropped, logged.
// A report that is kept blocks the ones behind it: order is preserved.
class ReportQueue {
 public:
  using Log = std::function<void(const std::string&)>;

  ReportQueue(int max_attempts, Log log)
      : max_attempts_(max_attempts), log_(std::move(log)) {}

  // worker_id and lease_id are filled in when sent.
  void Push(v1::ReportCheckpointRequest request);
  void Push(v1::ReportExitRequest request);

  // Sends queued reports in order until one must wait. Returns how many left.
  size_t Flush(CoordinatorClient& client, const std::string& worker_id,
               const std::string& lease_id);

  size_t size() const { return reports_.size(); }
  bool empty() const { return reports_.empty(); }

 private:
  struct Report {
    bool is_checkpoint = false;
    v1::ReportCheckpointRequest checkpoint;
    v1::ReportExitRequest exit;
    int attempts = 0;
    std::string what;  // for log lines
  };

  int max_attempts_;
  Log log_;
  std::deque<Report> reports_;
};

// "job j1 epoch 3 rank 0"
std::string RankLabel(const std::string& job_id, int64_t epoch, int rank);

}  // namespace reca

#endif  // RECA_WORKER_REPORT_QUEUE_H_
