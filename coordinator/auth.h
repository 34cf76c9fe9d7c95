// Authentication and roles (issue 9), without gRPC: who a bearer token is
// (TokenStore), and which service a role may call (RequireRole). The gRPC
// adapters (grpc_services.h) call these first on every RPC; the handlers get
// the Caller and decide ownership (a user's jobs are its own).
//
// Tokens are "reca_" + 64 hex digits of getrandom(2). Only their SHA-256 is
// stored, under token/<sha256> in the coordinator's KvStore, and kept in
// memory for lookups; a revocation is durable before it is acknowledged and
// takes effect at once.
//
// Thread-safety: TokenStore's methods may be called from any thread.
#ifndef RECA_COORDINATOR_AUTH_H_
#define RECA_COORDINATOR_AUTH_H_

#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/kv_store.h"
#include "coordinator/handlers.h"
#include "reca/v1/admin_service.pb.h"

namespace reca::coordinator {

// "user", "worker", "evaluator", "admin" <-> v1::Role.
absl::StatusOr<v1::Role> ParseRole(absl::string_view name);
std::string RoleName(v1::Role role);

// OK when `caller` may call the service named `service` (e.g.
// "reca.v1.JobService"); PERMISSION_DENIED otherwise. Users and admins call
// the JobService, admins the AdminService, workers the WorkerService and
// evaluators the EvaluatorService; nobody calls the others' services.
absl::Status RequireRole(const Caller& caller, absl::string_view service);

// Lowercase hex SHA-256 of a token's secret.
std::string TokenSha256(absl::string_view secret);

// One line of a bootstrap tokens file (--auth_tokens_file).
struct BootstrapToken {
  v1::Role role;
  std::string name, sha256;
};
// "ROLE NAME SHA256" per line; blank lines and "#" comments are skipped.
// Errors name the file and line.
absl::StatusOr<std::vector<BootstrapToken>> ParseTokensFile(
    const std::string& path, absl::string_view text);

class TokenStore {
 public:
  // Loads every token/ record of `store`.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Open(KvStore& store,
                                                          const Clock& clock);

  // The caller of an RPC whose "authorization" metadata is `authorization`
  // ("Bearer <secret>"). UNAUTHENTICATED when it is missing, malformed,
  // unknown or revoked; the message says which of "no token" and "invalid
  // token" and nothing more.
  absl::StatusOr<Caller> Authenticate(absl::string_view authorization) const;

  // Stores each token not stored yet (by hash); one revoked earlier stays
  // revoked. Returns how many were added.
  absl::StatusOr<int> Import(const std::vector<BootstrapToken>& tokens);

  absl::StatusOr<v1::CreateTokenResponse> Create(
      const Caller& by, const v1::CreateTokenRequest& request);
  v1::ListTokensResponse List(const v1::ListTokensRequest& request) const;
  absl::StatusOr<v1::RevokeTokenResponse> Revoke(
      const v1::RevokeTokenRequest& request);

  // Tokens not revoked, of any role.
  int ValidCount() const;

 private:
  TokenStore(KvStore& store, const Clock& clock)
      : store_(store), clock_(clock) {}
  absl::Status Put(const v1::Token& token) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  KvStore& store_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, v1::Token> by_sha256_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_AUTH_H_
