// Test doubles for WorkerAgent (STYLE.md §11): a coordinator that records
// every request and answers from a script. Processes: common/fake_process.h.
#ifndef RECA_WORKER_WORKER_TEST_FAKES_H_
#define RECA_WORKER_WORKER_TEST_FAKES_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/fake_process.h"
#include "reca/v1/worker_service.pb.h"
#include "worker/coordinator_client.h"

namespace reca {

// Records every call. Each method answers with the next scripted result
// when there is one, else with a default: Register a new lease
// ("lease-<n>", epoch n), the others an empty OK. `down` makes every call
// UNAVAILABLE without consuming the script.
class FakeCoordinatorClient : public CoordinatorClient {
 public:
  bool down = false;
  int64_t lease_ttl_millis = 10000;
  int64_t heartbeat_interval_millis = 1000;

  std::vector<v1::RegisterWorkerRequest> registers;
  std::vector<v1::HeartbeatRequest> heartbeats;
  std::vector<v1::ReportCheckpointRequest>
      checkpoints;  // attempted, delivered or not
  std::vector<v1::ReportExitRequest> exits;
  std::vector<std::string>
      report_order;  // "checkpoint <step>" / "exit <rank>", delivered ones only

  std::deque<absl::StatusOr<v1::HeartbeatResponse>> heartbeat_script;
  std::deque<absl::Status> report_script;  // shared by both report kinds
  std::deque<absl::Status> register_script;

  absl::StatusOr<v1::RegisterWorkerResponse> Register(
      const v1::RegisterWorkerRequest& request) override {
    registers.push_back(request);
    if (down) return absl::UnavailableError("coordinator down");
    if (!register_script.empty()) {
      absl::Status s = register_script.front();
      register_script.pop_front();
      if (!s.ok()) return s;
    }
    ++leases_;
    v1::RegisterWorkerResponse response;
    response.set_lease_id(absl::StrCat("lease-", leases_));
    response.set_epoch(leases_);
    response.set_lease_ttl_millis(lease_ttl_millis);
    response.set_heartbeat_interval_millis(heartbeat_interval_millis);
    return response;
  }

  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) override {
    heartbeats.push_back(request);
    if (down) return absl::UnavailableError("coordinator down");
    if (!heartbeat_script.empty()) {
      absl::StatusOr<v1::HeartbeatResponse> r = heartbeat_script.front();
      heartbeat_script.pop_front();
      return r;
    }
    return v1::HeartbeatResponse();
  }

  absl::StatusOr<v1::ReportCheckpointResponse> ReportCheckpoint(
      const v1::ReportCheckpointRequest& request) override {
    checkpoints.push_back(request);
    absl::Status s = NextReportStatus();
    if (!s.ok()) return s;
    report_order.push_back(
        absl::StrCat("checkpoint ", request.checkpoint().step()));
    return v1::ReportCheckpointResponse();
  }

  absl::StatusOr<v1::ReportExitResponse> ReportExit(
      const v1::ReportExitRequest& request) override {
    exits.push_back(request);
    absl::Status s = NextReportStatus();
    if (!s.ok()) return s;
    report_order.push_back(absl::StrCat("exit ", request.rank()));
    return v1::ReportExitResponse();
  }

 private:
  absl::Status NextReportStatus() {
    if (down) return absl::UnavailableError("coordinator down");
    if (report_script.empty()) return absl::OkStatus();
    absl::Status s = report_script.front();
    report_script.pop_front();
    return s;
  }

  int64_t leases_ = 0;
};

}  // namespace reca

#endif  // RECA_WORKER_WORKER_TEST_FAKES_H_
