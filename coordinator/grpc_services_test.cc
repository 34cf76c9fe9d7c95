// The gRPC adapters over loopback: status codes and messages cross the wire
// unchanged, and WatchJob streams until the job ends.
#include "coordinator/grpc_services.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <thread>

#include "common/clock.h"
#include "common/memory_kv_store.h"
#include "coordinator/coordinator.h"
#include "coordinator/sweeps.h"
#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

class GrpcServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c =
        Coordinator::Create({store_, *RealClock::Get()}, CoordinatorOptions());
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = std::move(*c);
    auto sweeps = SweepManager::Create(store_, *RealClock::Get(), *coordinator_);
    ASSERT_TRUE(sweeps.ok()) << sweeps.status();
    sweeps_ = std::move(*sweeps);
    jobs_ = std::make_unique<GrpcJobService>(*coordinator_, *sweeps_, gate_);
    workers_ = std::make_unique<GrpcWorkerService>(*coordinator_, gate_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(jobs_.get());
    builder.RegisterService(workers_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    job_stub_ = v1::JobService::NewStub(channel);
  }
  void TearDown() override { server_->Shutdown(); }

  MemoryKvStore store_;
  AuthGate gate_{nullptr};  // authentication off: auth_test.cc tests it
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<SweepManager> sweeps_;
  std::unique_ptr<GrpcJobService> jobs_;
  std::unique_ptr<GrpcWorkerService> workers_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::JobService::Stub> job_stub_;
};

TEST_F(GrpcServicesTest, ErrorsKeepTheirCodeAndFieldPath) {
  grpc::ClientContext context;
  v1::SubmitJobRequest request;
  request.mutable_spec()->mutable_optimizer()->set_lr(-1);
  v1::SubmitJobResponse response;
  grpc::Status s = job_stub_->SubmitJob(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("spec.optimizer.lr: must be > 0"),
            std::string::npos)
      << s.error_message();

  grpc::ClientContext get_context;
  v1::GetJobRequest get;
  get.set_job_id("job-404");
  v1::GetJobResponse got;
  EXPECT_EQ(job_stub_->GetJob(&get_context, get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServicesTest, WatchStreamsUntilTheJobEnds) {
  grpc::ClientContext submit_context;
  v1::SubmitJobRequest request;
  request.set_request_id("r1");
  request.mutable_spec()->set_steps(3);
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(job_stub_->SubmitJob(&submit_context, request, &submitted).ok());
  const std::string id = submitted.job().id();

  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(20));
  v1::WatchJobRequest watch;
  watch.set_job_id(id);
  auto reader = job_stub_->WatchJob(&watch_context, watch);
  v1::WatchJobResponse update;
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.job().state(), v1::QUEUED);

  std::thread canceller([&] {
    grpc::ClientContext context;
    v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    v1::CancelJobResponse response;
    EXPECT_TRUE(job_stub_->CancelJob(&context, cancel, &response).ok());
  });
  v1::JobState last = update.job().state();
  while (reader->Read(&update)) last = update.job().state();
  canceller.join();
  EXPECT_EQ(last, v1::CANCELLED);
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(GrpcServicesTest, WatchOfAnUnknownJobIsNotFound) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::WatchJobRequest watch;
  watch.set_job_id("job-404");
  auto reader = job_stub_->WatchJob(&context, watch);
  v1::WatchJobResponse update;
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace reca::coordinator
