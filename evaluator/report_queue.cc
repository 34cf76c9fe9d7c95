#include "evaluator/report_queue.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace reca {
namespace {

std::string Describe(const v1::ReportScoresRequest& r) {
  return absl::StrCat(
      "job ", r.job_id(), " step ", r.step(), ": ",
      r.error().empty() ? absl::StrCat(r.scores_size(), " score(s)") : "error");
}

}  // namespace

void ScoreReportQueue::Push(v1::ReportScoresRequest request) {
  reports_.push_back({std::move(request), 0});
}

size_t ScoreReportQueue::Flush(EvaluatorCoordinatorClient& client) {
  while (!reports_.empty()) {
    Report& r = reports_.front();
    ++r.attempts;
    const absl::Status status = client.Report(r.request).status();
    const absl::StatusCode code = status.code();
    if (status.ok() || code == absl::StatusCode::kAlreadyExists) {
      log_(absl::StrCat(
          Describe(r.request), " reported",
          r.attempts > 1 ? absl::StrCat(" (try ", r.attempts, ")") : ""));
      reports_.pop_front();
      continue;
    }
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kDeadlineExceeded) {
      // Log the first failure and then sparsely (1, 2, 4, 8, ... tries).
      if ((r.attempts & (r.attempts - 1)) == 0) {
        log_(absl::StrCat(Describe(r.request), " not reported (try ",
                          r.attempts, "), will retry: ", status.ToString(),
                          " (", reports_.size(), " queued)"));
      }
      return reports_.size();
    }
    log_(absl::StrCat(
        Describe(r.request),
        " report dropped, the coordinator rejected it: ", status.ToString()));
    reports_.pop_front();
  }
  return 0;
}

}  // namespace reca
