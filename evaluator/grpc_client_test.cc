#include "evaluator/grpc_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reca/v1/evaluator_service_mock.grpc.pb.h"

namespace reca {
namespace {

using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;

TEST(GrpcEvaluatorClientTest, CallsTheStubWithADeadlineAndReturnsTheResponse) {
  auto stub = std::make_unique<v1::MockEvaluatorServiceStub>();
  EXPECT_CALL(*stub, ClaimEvaluation(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext* context,
                          const v1::ClaimEvaluationRequest& request,
                          v1::ClaimEvaluationResponse* out) {
        EXPECT_EQ(request.evaluator_id(), "e1");
        const auto left =
            context->deadline() - std::chrono::system_clock::now();
        EXPECT_GT(left, std::chrono::seconds(2));
        EXPECT_LE(left, std::chrono::seconds(3));
        out->mutable_task()->set_claim_id("claim-1");
        return grpc::Status::OK;
      }));
  GrpcEvaluatorClient client(std::move(stub), absl::Seconds(3));
  v1::ClaimEvaluationRequest request;
  request.set_evaluator_id("e1");
  absl::StatusOr<v1::ClaimEvaluationResponse> got = client.Claim(request);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->task().claim_id(), "claim-1");
}

TEST(GrpcEvaluatorClientTest, KeepsTheStatusCodeAndMessage) {
  auto stub = std::make_unique<v1::MockEvaluatorServiceStub>();
  EXPECT_CALL(*stub, RenewClaim(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no claim")));
  EXPECT_CALL(*stub, ReportScores(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")))
      .WillOnce(
          Return(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow")));
  GrpcEvaluatorClient client(std::move(stub), absl::Seconds(1));
  EXPECT_EQ(client.Renew({}).status(), absl::NotFoundError("no claim"));
  EXPECT_EQ(client.Report({}).status(),
            absl::UnavailableError("connection refused"));
  EXPECT_EQ(client.Report({}).status(), absl::DeadlineExceededError("slow"));
}

TEST(GrpcEvaluatorClientTest, AnUnreachableCoordinatorIsUnavailable) {
  // Nothing listens on port 1; the call fails fast (no wait_for_ready).
  auto client = GrpcEvaluatorClient::Create("127.0.0.1:1", absl::Seconds(5), {});
  const absl::Time start = absl::Now();
  absl::Status s = client->Claim({}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace reca
