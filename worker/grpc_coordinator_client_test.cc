#include "worker/grpc_coordinator_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reca/v1/worker_service_mock.grpc.pb.h"

namespace reca {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;

TEST(GrpcCoordinatorClientTest,
     CallsTheStubWithADeadlineAndReturnsTheResponse) {
  auto stub = std::make_unique<v1::MockWorkerServiceStub>();
  v1::RegisterWorkerResponse response;
  response.set_lease_id("lease-9");
  EXPECT_CALL(*stub, RegisterWorker(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext* context,
                           const v1::RegisterWorkerRequest& request,
                           v1::RegisterWorkerResponse* out) {
        EXPECT_EQ(request.worker_id(), "w1");
        const auto left =
            context->deadline() - std::chrono::system_clock::now();
        EXPECT_GT(left, std::chrono::seconds(2));
        EXPECT_LE(left, std::chrono::seconds(3));
        *out = response;
        return grpc::Status::OK;
      }));
  GrpcCoordinatorClient client(std::move(stub), absl::Seconds(3));
  v1::RegisterWorkerRequest request;
  request.set_worker_id("w1");
  absl::StatusOr<v1::RegisterWorkerResponse> got = client.Register(request);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->lease_id(), "lease-9");
}

TEST(GrpcCoordinatorClientTest, KeepsTheStatusCodeAndMessage) {
  auto stub = std::make_unique<v1::MockWorkerServiceStub>();
  EXPECT_CALL(*stub, Heartbeat(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no lease")));
  EXPECT_CALL(*stub, ReportExit(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "stale epoch 3")));
  EXPECT_CALL(*stub, ReportCheckpoint(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")))
      .WillOnce(
          Return(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow")));
  GrpcCoordinatorClient client(std::move(stub), absl::Seconds(1));
  EXPECT_EQ(client.Heartbeat({}).status(), absl::NotFoundError("no lease"));
  EXPECT_EQ(client.ReportExit({}).status(),
            absl::FailedPreconditionError("stale epoch 3"));
  EXPECT_EQ(client.ReportCheckpoint({}).status(),
            absl::UnavailableError("connection refused"));
  EXPECT_EQ(client.ReportCheckpoint({}).status(),
            absl::DeadlineExceededError("slow"));
}

TEST(GrpcCoordinatorClientTest, AnUnreachableCoordinatorIsUnavailable) {
  // Nothing listens on port 1; the call fails fast (no wait_for_ready).
  auto client = GrpcCoordinatorClient::Create("127.0.0.1:1", absl::Seconds(5), {});
  const absl::Time start = absl::Now();
  absl::Status s = client->Heartbeat({}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace reca
