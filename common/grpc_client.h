// What the daemons' coordinator clients share: how they authenticate (a
// bearer token and, when configured, TLS with a client certificate), a
// channel that reconnects within a second of the coordinator coming back
// (gRPC's default backoff grows to 2 minutes, longer than a lease), and one
// unary call with a deadline whose status keeps its code.
#ifndef RECA_COMMON_GRPC_CLIENT_H_
#define RECA_COMMON_GRPC_CLIENT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace reca {

// How a daemon proves who it is to the coordinator.
struct ClientCredentials {
  std::string token;  // sent as "authorization: Bearer <token>"; "" = none
  // PEM. With a CA the channel is TLS and verifies the coordinator's
  // certificate; with a certificate and key too it presents them (mTLS).
  std::string tls_ca, tls_cert, tls_key;
};

// The daemons' flags for it: --token_file, --tls_ca, --tls_cert, --tls_key
// (ParseDaemonFlags names).
std::vector<std::string> ClientCredentialFlags();
// Reads the files those flags name. Errors name the flag and the file. A
// token file others may read is accepted with a warning on stderr.
absl::StatusOr<ClientCredentials> ClientCredentialsFromFlags();

std::shared_ptr<grpc::Channel> CoordinatorChannel(
    const std::string& target, const ClientCredentials& credentials);

// (stub->*method)(context, request, &response) with a fresh context,
// `deadline` and, when `token` is set, the authorization header. Fails fast
// (no wait_for_ready): an unreachable coordinator is UNAVAILABLE at once,
// with gRPC's reason (refused, a certificate not trusted, ...).
template <typename Response, typename Stub, typename Method, typename Request>
absl::StatusOr<Response> UnaryCall(Stub* stub, Method method,
                                   const Request& request,
                                   absl::Duration deadline,
                                   const std::string& token = "") {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  Response response;
  const grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// A `Service` stub on a channel to the coordinator that is rebuilt, on a new
// channel, after a call fails UNAVAILABLE: a TLS channel whose first
// connection attempts failed (the coordinator not up yet, or restarting)
// was seen never to connect again in gRPC 1.51, while a new channel
// connects at once (tests/service/tls_test.py). Thread-safe.
template <typename Service>
class CoordinatorStub {
 public:
  using Stub = typename Service::StubInterface;

  CoordinatorStub(std::string target, ClientCredentials credentials)
      : target_(std::move(target)), credentials_(std::move(credentials)) {
    stub_ = NewStub();
  }
  // Over a given stub (tests' mocks): never rebuilt.
  explicit CoordinatorStub(std::unique_ptr<Stub> stub) : stub_(std::move(stub)) {}

  template <typename Response, typename Method, typename Request>
  absl::StatusOr<Response> Call(Method method, const Request& request,
                                absl::Duration deadline, const std::string& token) {
    std::shared_ptr<Stub> stub;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stub = stub_;
    }
    absl::StatusOr<Response> response =
        UnaryCall<Response>(stub.get(), method, request, deadline, token);
    if (absl::IsUnavailable(response.status()) && !target_.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (stub_ == stub) stub_ = NewStub();  // once, however many calls failed
    }
    return response;
  }

 private:
  std::shared_ptr<Stub> NewStub() const {
    return Service::NewStub(CoordinatorChannel(target_, credentials_));
  }

  const std::string target_;  // "" = a given stub
  const ClientCredentials credentials_;
  std::mutex mu_;
  std::shared_ptr<Stub> stub_;
};

}  // namespace reca

#endif  // RECA_COMMON_GRPC_CLIENT_H_
