// The worker daemon's view of the coordinator's WorkerService (DESIGN.md
// §5.1, §5.3): one call per RPC, proto messages in and out, gRPC kept out of
// the interface so that WorkerAgent is tested against a hand-written fake.
#ifndef RECA_WORKER_COORDINATOR_CLIENT_H_
#define RECA_WORKER_COORDINATOR_CLIENT_H_

#include "absl/status/statusor.h"
#include "reca/v1/worker_service.pb.h"

namespace reca {

// Implementations are used from one thread at a time (the agent's loop).
// Every call returns the RPC's status code unchanged: UNAVAILABLE and
// DEADLINE_EXCEEDED mean "try again", NOT_FOUND from Heartbeat means the
// lease is gone, FAILED_PRECONDITION from a report means a stale epoch.
class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;

  virtual absl::StatusOr<v1::RegisterWorkerResponse> Register(
      const v1::RegisterWorkerRequest& request) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportCheckpointResponse> ReportCheckpoint(
      const v1::ReportCheckpointRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportExitResponse> ReportExit(
      const v1::ReportExitRequest& request) = 0;
};

}  // namespace reca

#endif  // RECA_WORKER_COORDINATOR_CLIENT_H_
