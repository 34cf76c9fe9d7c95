// Authentication and roles (issue 9): the token store, and the authorization
// matrix over loopback gRPC: every RPC of every service x {no token, a wrong
// token, a revoked token, each role} against the allow/deny table; then job
// ownership between two users and an admin.
#include "coordinator/auth.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/memory_kv_store.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"
#include "coordinator/sweeps.h"
#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

TEST(TokenStoreTest, StoresOnlyTheHashAndRevokesAtOnce) {
  MemoryKvStore store;
  FakeClock clock;
  auto tokens = TokenStore::Open(store, clock);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  v1::CreateTokenRequest request;
  request.set_name("alice");
  request.set_role(v1::ROLE_USER);
  auto created = (*tokens)->Create(Caller{"root", v1::ROLE_ADMIN}, request);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string secret = created->secret();
  EXPECT_EQ(secret.size(), 5u + 64u);
  EXPECT_EQ(created->token().sha256(), TokenSha256(secret));
  EXPECT_EQ(created->token().created_by(), "root");
  // The secret is nowhere in the store.
  auto rows = store.Scan("");
  ASSERT_TRUE(rows.ok());
  for (const auto& [key, value] : *rows) {
    EXPECT_EQ(key.find(secret), std::string::npos);
    EXPECT_EQ(value.find(secret), std::string::npos);
  }

  auto caller = (*tokens)->Authenticate("Bearer " + secret);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->name, "alice");
  EXPECT_EQ(caller->role, v1::ROLE_USER);
  EXPECT_EQ((*tokens)->Authenticate("").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*tokens)->Authenticate(secret).status().message(), "invalid token");
  EXPECT_EQ((*tokens)->Authenticate("Bearer reca_00").status().message(),
            "invalid token");

  // A reopened store knows it; a revocation holds across reopening.
  v1::RevokeTokenRequest revoke;
  revoke.set_id(created->token().id().substr(0, 8));
  auto revoked = (*tokens)->Revoke(revoke);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_NE(revoked->token().revoked_unix_micros(), 0);
  EXPECT_EQ((*tokens)->Authenticate("Bearer " + secret).status().message(),
            "invalid token");
  EXPECT_TRUE((*tokens)->Revoke(revoke).ok());  // again: a no-op
  auto reopened = TokenStore::Open(store, clock);
  ASSERT_TRUE(reopened.ok());
  EXPECT_FALSE((*reopened)->Authenticate("Bearer " + secret).ok());
  EXPECT_EQ((*reopened)->List({}).tokens_size(), 0);
  v1::ListTokensRequest all;
  all.set_include_revoked(true);
  EXPECT_EQ((*reopened)->List(all).tokens_size(), 1);
}

TEST(TokenStoreTest, RejectsBadRequestsNamingTheField) {
  MemoryKvStore store;
  FakeClock clock;
  auto tokens = TokenStore::Open(store, clock);
  ASSERT_TRUE(tokens.ok());
  v1::CreateTokenRequest request;
  request.set_role(v1::ROLE_USER);
  EXPECT_EQ((*tokens)->Create(Caller::Trusted(), request).status().message(),
            "name: empty");
  request.set_name("a b");
  EXPECT_EQ((*tokens)->Create(Caller::Trusted(), request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_name("bob");
  request.set_role(v1::ROLE_UNSPECIFIED);
  EXPECT_NE((*tokens)->Create(Caller::Trusted(), request)
                .status().message().find("role:"),
            std::string::npos);
  v1::RevokeTokenRequest revoke;
  revoke.set_id("abc");
  EXPECT_EQ((*tokens)->Revoke(revoke).status().code(),
            absl::StatusCode::kInvalidArgument);
  revoke.set_id("abcdef");
  EXPECT_EQ((*tokens)->Revoke(revoke).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TokenStoreTest, TokensFileImportsOnceAndKeepsRevocations) {
  const std::string sha = TokenSha256("reca_secret");
  auto parsed = ParseTokensFile("tokens", "# bootstrap\n\nadmin root " + sha + "\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ(ParseTokensFile("t", "admin root\n").status().message(),
            "t:1: expected \"ROLE NAME SHA256\"");
  EXPECT_EQ(ParseTokensFile("t", "\nboss root " + sha).status().message(),
            "t:2: role \"boss\": one of user, worker, evaluator, admin");
  EXPECT_NE(ParseTokensFile("t", "admin root reca_secret").status().message().find(
                "t:1: the SHA-256 must be 64 lowercase hex digits"),
            std::string::npos);

  MemoryKvStore store;
  FakeClock clock;
  auto tokens = TokenStore::Open(store, clock);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(*(*tokens)->Import(*parsed), 1);
  EXPECT_EQ(*(*tokens)->Import(*parsed), 0);
  auto caller = (*tokens)->Authenticate("Bearer reca_secret");
  ASSERT_TRUE(caller.ok());
  EXPECT_TRUE(caller->admin());
  v1::RevokeTokenRequest revoke;
  revoke.set_id(sha.substr(0, 12));
  ASSERT_TRUE((*tokens)->Revoke(revoke).ok());
  EXPECT_EQ(*(*tokens)->Import(*parsed), 0);  // a restart does not revive it
  EXPECT_FALSE((*tokens)->Authenticate("Bearer reca_secret").ok());
}

// The coordinator's four services on loopback with authentication on.
class AuthMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tokens = TokenStore::Open(store_, *RealClock::Get());
    ASSERT_TRUE(tokens.ok());
    tokens_ = std::move(*tokens);
    gate_ = std::make_unique<AuthGate>(
        tokens_.get(), [this](absl::string_view service, absl::StatusCode code) {
          absl::MutexLock lock(&mu_);
          ++denied_[{std::string(service), code}];
        });
    CoordinatorOptions options;
    options.max_unfinished_jobs_per_owner = 2;
    auto c = Coordinator::Create({store_, *RealClock::Get()}, options);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = std::move(*c);
    auto sweeps = SweepManager::Create(store_, *RealClock::Get(), *coordinator_);
    ASSERT_TRUE(sweeps.ok()) << sweeps.status();
    sweeps_ = std::move(*sweeps);
    jobs_ = std::make_unique<GrpcJobService>(*coordinator_, *sweeps_, *gate_);
    workers_ = std::make_unique<GrpcWorkerService>(*coordinator_, *gate_);
    evaluators_ = std::make_unique<GrpcEvaluatorService>(*coordinator_, *gate_);
    admin_ = std::make_unique<GrpcAdminService>(*tokens_, *gate_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(jobs_.get());
    builder.RegisterService(workers_.get());
    builder.RegisterService(evaluators_.get());
    builder.RegisterService(admin_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    for (auto [name, role] : {std::pair{"alice", v1::ROLE_USER},
                              std::pair{"bob", v1::ROLE_USER},
                              std::pair{"w1", v1::ROLE_WORKER},
                              std::pair{"e1", v1::ROLE_EVALUATOR},
                              std::pair{"root", v1::ROLE_ADMIN}}) {
      v1::CreateTokenRequest request;
      request.set_name(name);
      request.set_role(role);
      auto created = tokens_->Create(Caller::Trusted(), request);
      ASSERT_TRUE(created.ok());
      secrets_[name] = created->secret();
    }
  }
  void TearDown() override { server_->Shutdown(); }

  // Calls `method` ("/pkg.Service/Method") with an empty request (every
  // request message's default) and `token` ("" = no authorization header).
  grpc::Status Call(const std::string& method, const std::string& token) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    grpc::ByteBuffer request, response;
    grpc::Slice empty("");
    request = grpc::ByteBuffer(&empty, 1);
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, {}, &request, &response,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  grpc::Status Submit(const std::string& token, const std::string& owner,
                      v1::SubmitJobResponse* response) {
    auto stub = v1::JobService::NewStub(channel_);
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    v1::SubmitJobRequest request;
    request.mutable_spec()->set_steps(3);
    request.set_owner(owner);
    return stub->SubmitJob(&context, request, response);
  }

  MemoryKvStore store_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<AuthGate> gate_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<SweepManager> sweeps_;
  std::unique_ptr<GrpcJobService> jobs_;
  std::unique_ptr<GrpcWorkerService> workers_;
  std::unique_ptr<GrpcEvaluatorService> evaluators_;
  std::unique_ptr<GrpcAdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::map<std::string, std::string> secrets_;
  absl::Mutex mu_;
  std::map<std::pair<std::string, absl::StatusCode>, int> denied_;
};

TEST_F(AuthMatrixTest, EveryRpcAdmitsExactlyItsRoles) {
  // The allow table: which token holders each service admits.
  const std::map<std::string, std::set<std::string>> allowed = {
      {"reca.v1.JobService", {"alice", "root"}},
      {"reca.v1.AdminService", {"root"}},
      {"reca.v1.WorkerService", {"w1"}},
      {"reca.v1.EvaluatorService", {"e1"}},
  };
  v1::CreateTokenRequest revoked_request;
  revoked_request.set_name("mallory");
  revoked_request.set_role(v1::ROLE_ADMIN);
  auto revoked = tokens_->Create(Caller::Trusted(), revoked_request);
  ASSERT_TRUE(revoked.ok());
  v1::RevokeTokenRequest revoke;
  revoke.set_id(revoked->token().id());
  ASSERT_TRUE(tokens_->Revoke(revoke).ok());

  int calls = 0, rpcs = 0;
  for (const auto& [service, admitted] : allowed) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(descriptor, nullptr) << service;
    for (int m = 0; m < descriptor->method_count(); ++m) {
      ++rpcs;
      const std::string method =
          "/" + service + "/" + descriptor->method(m)->name();
      SCOPED_TRACE(method);
      EXPECT_EQ(Call(method, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(Call(method, "reca_" + std::string(64, '0')).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
      const grpc::Status r = Call(method, revoked->secret());
      EXPECT_EQ(r.error_code(), grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(r.error_message(), "invalid token");  // nothing else revealed
      calls += 3;
      for (const char* who : {"alice", "w1", "e1", "root"}) {
        SCOPED_TRACE(who);
        const grpc::Status s = Call(method, secrets_[who]);
        ++calls;
        if (admitted.count(who)) {
          // Past the gate: whatever the handler says of an empty request.
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
          EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
        } else {
          EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
        }
      }
    }
  }
  EXPECT_EQ(rpcs, 12 + 3 + 4 + 3);  // a new RPC must land in this table
  absl::MutexLock lock(&mu_);
  int denied = 0;
  for (const auto& [key, n] : denied_) denied += n;
  // 3 unauthenticated per RPC, and each role refused by the services not its own.
  EXPECT_EQ(denied, 3 * rpcs + (12 * 2 + 3 * 3 + 4 * 3 + 3 * 3));
  EXPECT_EQ((denied_[{"reca.v1.WorkerService", absl::StatusCode::kUnauthenticated}]),
            3 * 4);
  std::printf("authorization matrix: %d RPCs x 7 callers = %d calls as the table says\n",
              rpcs, calls);
}

TEST_F(AuthMatrixTest, UsersSeeAndCancelOnlyTheirOwnJobs) {
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(Submit(secrets_["alice"], "", &submitted).ok());
  const std::string id = submitted.job().id();
  EXPECT_EQ(submitted.job().owner(), "alice");  // from the token
  EXPECT_EQ(Submit(secrets_["alice"], "bob", &submitted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::SubmitJobResponse for_bob;
  ASSERT_TRUE(Submit(secrets_["root"], "bob", &for_bob).ok());  // an admin may
  EXPECT_EQ(for_bob.job().owner(), "bob");

  auto stub = v1::JobService::NewStub(channel_);
  auto get = [&](const std::string& who) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + secrets_[who]);
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::GetJobResponse response;
    return stub->GetJob(&context, request, &response).error_code();
  };
  auto list = [&](const std::string& who) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + secrets_[who]);
    v1::ListJobsResponse response;
    EXPECT_TRUE(stub->ListJobs(&context, v1::ListJobsRequest(), &response).ok());
    std::vector<std::string> owners;
    for (const v1::Job& j : response.jobs()) owners.push_back(j.owner());
    return owners;
  };
  EXPECT_EQ(get("alice"), grpc::StatusCode::OK);
  EXPECT_EQ(get("bob"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(get("root"), grpc::StatusCode::OK);
  EXPECT_EQ(list("alice"), std::vector<std::string>{"alice"});
  EXPECT_EQ(list("bob"), std::vector<std::string>{"bob"});
  EXPECT_EQ(list("root"), (std::vector<std::string>{"alice", "bob"}));
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + secrets_["bob"]);
    v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    v1::CancelJobResponse response;
    EXPECT_EQ(stub->CancelJob(&context, cancel, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + secrets_["bob"]);
    v1::WatchJobRequest watch;
    watch.set_job_id(id);
    auto reader = stub->WatchJob(&context, watch);
    v1::WatchJobResponse update;
    EXPECT_FALSE(reader->Read(&update));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // The per-owner limit (2 here): alice's second job fits, the third not.
  ASSERT_TRUE(Submit(secrets_["alice"], "", &submitted).ok());
  const grpc::Status third = Submit(secrets_["alice"], "", &submitted);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(third.error_message().find("alice has 2 jobs queued or running"),
            std::string::npos)
      << third.error_message();
}

}  // namespace
}  // namespace reca::coordinator
