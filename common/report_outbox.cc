#include "common/report_outbox.h"

#include "absl/strings/str_cat.h"

namespace reca {

size_t ReportOutbox::Flush() {
  while (!reports_.empty()) {
    Report& r = reports_.front();
    ++r.attempts;
    const absl::Status status = r.send();
    const absl::StatusCode code = status.code();
    if (status.ok() || code == absl::StatusCode::kAlreadyExists) {
      log_(absl::StrCat(r.what, ": reported",
                        r.attempts > 1 ? absl::StrCat(" (try ", r.attempts, ")") : ""));
      reports_.pop_front();
      continue;
    }
    if (code == absl::StatusCode::kFailedPrecondition ||
        code == absl::StatusCode::kInvalidArgument ||
        code == absl::StatusCode::kOutOfRange ||
        code == absl::StatusCode::kUnimplemented) {
      log_(absl::StrCat(r.what, ": report dropped, the coordinator rejected it: ",
                        status.ToString()));
      reports_.pop_front();
      continue;
    }
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kDeadlineExceeded) {
      // The first failure, then sparsely (tries 1, 2, 4, 8, ...).
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
