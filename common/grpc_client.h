// What the daemons' coordinator clients share: a channel that reconnects
// within a second of the coordinator coming back (gRPC's default backoff
// grows to 2 minutes, longer than a lease), and one unary call with a
// deadline whose status keeps its code.
#ifndef RECA_COMMON_GRPC_CLIENT_H_
#define RECA_COMMON_GRPC_CLIENT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace reca {

inline std::shared_ptr<grpc::Channel> CoordinatorChannel(
    const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// (stub->*method)(context, request, &response) with a fresh context and
// `deadline`.
template <typename Response, typename Stub, typename Method, typename Request>
absl::StatusOr<Response> UnaryCall(Stub* stub, Method method,
                                   const Request& request,
                                   absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  Response response;
  const grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace reca

#endif  // RECA_COMMON_GRPC_CLIENT_H_
