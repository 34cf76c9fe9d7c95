#include "worker/report_queue.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace reca {

std::string RankLabel(const std::string& job_id, int64_t epoch, int rank) {
  return absl::StrCat("job ", job_id, " epoch ", epoch, " rank ", rank);
}

void ReportQueue::Push(v1::ReportCheckpointRequest request) {
  Report r;
  r.is_checkpoint = true;
  const v1::Checkpoint& c = request.checkpoint();
  r.what = absl::StrCat(RankLabel(c.job_id(), c.epoch(), 0),
                        ": checkpoint step ", c.step());
  r.checkpoint = std::move(request);
  reports_.push_back(std::move(r));
}

void ReportQueue::Push(v1::ReportExitRequest request) {
  Report r;
  r.what =
      absl::StrCat(RankLabel(request.job_id(), request.epoch(), request.rank()),
                   ": exit (", v1::ExitCause_Name(request.cause()), ")");
  r.exit = std::move(request);
  reports_.push_back(std::move(r));
}

size_t ReportQueue::Flush(CoordinatorClient& client,
                          const std::string& worker_id,
                          const std::string& lease_id) {
  while (!reports_.empty()) {
    Report& r = reports_.front();
    ++r.attempts;
    absl::Status status;
    if (r.is_checkpoint) {
      r.checkpoint.set_worker_id(worker_id);
      r.checkpoint.set_lease_id(lease_id);
      status = client.ReportCheckpoint(r.checkpoint).status();
    } else {
      r.exit.set_worker_id(worker_id);
      r.exit.set_lease_id(lease_id);
      status = client.ReportExit(r.exit).status();
    }
    const absl::StatusCode code = status.code();
    if (status.ok() || code == absl::StatusCode::kAlreadyExists) {
      log_(absl::StrCat(
          r.what, ": reported",
          r.attempts > 1 ? absl::StrCat(" (try ", r.attempts, ")") : ""));
      reports_.pop_front();
      continue;
    }
    if (code == absl::StatusCode::kFailedPrecondition ||
        code == absl::StatusCode::kInvalidArgument ||
        code == absl::StatusCode::kOutOfRange ||
        code == absl::StatusCode::kUnimplemented) {
      log_(absl::StrCat(r.what,
                        ": report dropped, the coordinator rejected it: ",
                        status.ToString()));
      reports_.pop_front();
      continue;
    }
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kDeadlineExceeded) {
      // Log the first failure and then sparsely (1, 2, 4, 8, ... tries).
      if ((r.attempts & (r.attempts - 1)) == 0) {
        log_(absl::StrCat(r.what, ": report not delivered (try ", r.attempts,
                          "), will retry: ", status.ToString(), " (",
                          reports_.size(), " queued)"));
      }
      return reports_.size();
    }
    if (r.attempts >= max_attempts_) {
      log_(absl::StrCat(r.what, ": report dropped after ", r.attempts,
                        " tries: ", status.ToString()));
      reports_.pop_front();
      continue;
    }
    log_(absl::StrCat(r.what, ": report failed (try ", r.attempts, " of ",
                      max_attempts_, "), will retry: ", status.ToString()));
    return reports_.size();
  }
  return 0;
}

}  // namespace reca
