#include "coordinator/auth.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "reca/ckpt/sha256.h"
#include "reca/status.h"

namespace reca::coordinator {
namespace {

constexpr char kTokenPrefix[] = "token/";
constexpr char kSecretPrefix[] = "reca_";
constexpr size_t kSecretBytes = 32;
constexpr size_t kIdDigits = 12;
constexpr size_t kMaxNameBytes = 128;  // validation.h's kMaxIdBytes: owners are names

// Digits of a SHA-256 as stored: lowercase hex.
bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// Names are job owners and worker ids: printable, no spaces, bounded.
absl::Status CheckName(absl::string_view name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty"));
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", name.size(), " bytes, more than the limit of ",
                     kMaxNameBytes));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != '@') {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", name, "\": only letters, digits, '-', '_', '.', '@'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewSecret() {
  unsigned char bytes[kSecretBytes];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("getrandom: ", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::StrCat(kSecretPrefix, ToHex(bytes, sizeof(bytes)));
}

v1::Token MakeToken(std::string name, v1::Role role, std::string sha256,
                    std::string created_by, int64_t now_micros) {
  v1::Token token;
  token.set_id(sha256.substr(0, kIdDigits));
  token.set_name(std::move(name));
  token.set_role(role);
  token.set_sha256(std::move(sha256));
  token.set_created_by(std::move(created_by));
  token.set_created_unix_micros(now_micros);
  return token;
}

}  // namespace

absl::StatusOr<v1::Role> ParseRole(absl::string_view name) {
  if (name == "user") return v1::ROLE_USER;
  if (name == "worker") return v1::ROLE_WORKER;
  if (name == "evaluator") return v1::ROLE_EVALUATOR;
  if (name == "admin") return v1::ROLE_ADMIN;
  return absl::InvalidArgumentError(absl::StrCat(
      "role \"", name, "\": one of user, worker, evaluator, admin"));
}

std::string RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_USER: return "user";
    case v1::ROLE_WORKER: return "worker";
    case v1::ROLE_EVALUATOR: return "evaluator";
    case v1::ROLE_ADMIN: return "admin";
    default: return "none";
  }
}

absl::Status RequireRole(const Caller& caller, absl::string_view service) {
  bool allowed = false;
  if (service == "reca.v1.JobService") {
    allowed = caller.role == v1::ROLE_USER || caller.role == v1::ROLE_ADMIN;
  } else if (service == "reca.v1.AdminService") {
    allowed = caller.role == v1::ROLE_ADMIN;
  } else if (service == "reca.v1.WorkerService") {
    allowed = caller.role == v1::ROLE_WORKER;
  } else if (service == "reca.v1.EvaluatorService") {
    allowed = caller.role == v1::ROLE_EVALUATOR;
  }
  if (allowed) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "a ", RoleName(caller.role), " token cannot call ", service));
}

std::string TokenSha256(absl::string_view secret) {
  Sha256 h;
  h.Update(secret.data(), secret.size());
  return h.HexDigest();
}

absl::StatusOr<std::vector<BootstrapToken>> ParseTokensFile(
    const std::string& path, absl::string_view text) {
  std::vector<BootstrapToken> tokens;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat(path, ":", line_no, ": ");
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected \"ROLE NAME SHA256\""));
    }
    absl::StatusOr<v1::Role> role = ParseRole(fields[0]);
    if (!role.ok()) return absl::InvalidArgumentError(where + std::string(role.status().message()));
    if (absl::Status s = CheckName(fields[1], "name"); !s.ok())
      return absl::InvalidArgumentError(where + std::string(s.message()));
    if (fields[2].size() != 64 || !IsLowerHex(fields[2])) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "the SHA-256 must be 64 lowercase hex digits (the "
                              "hash of the token, never the token)"));
    }
    tokens.push_back({*role, std::string(fields[1]), std::string(fields[2])});
  }
  return tokens;
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(
    KvStore& store, const Clock& clock) {
  std::unique_ptr<TokenStore> tokens(new TokenStore(store, clock));
  RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> rows, store.Scan(kTokenPrefix));
  absl::MutexLock lock(&tokens->mu_);
  for (const auto& [key, value] : rows) {
    v1::Token token;
    if (!token.ParseFromString(value) || key != kTokenPrefix + token.sha256()) {
      return absl::DataLossError(
          absl::StrCat("coordinator store: ", key, ": unreadable token"));
    }
    tokens->by_sha256_[token.sha256()] = std::move(token);
  }
  return tokens;
}

absl::Status TokenStore::Put(const v1::Token& token) {
  WriteBatch batch;
  batch.Put(kTokenPrefix + token.sha256(), token.SerializeAsString());
  RECA_RETURN_IF_ERROR(store_.Write(batch));
  by_sha256_[token.sha256()] = token;
  return absl::OkStatus();
}

absl::StatusOr<Caller> TokenStore::Authenticate(
    absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no token: send \"authorization: Bearer <token>\"");
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(authorization, kBearer)) {
    return absl::UnauthenticatedError("invalid token");
  }
  const std::string sha256 = TokenSha256(authorization.substr(kBearer.size()));
  absl::MutexLock lock(&mu_);
  auto it = by_sha256_.find(sha256);
  if (it == by_sha256_.end() || it->second.revoked_unix_micros() != 0) {
    return absl::UnauthenticatedError("invalid token");
  }
  return Caller{it->second.name(), it->second.role()};
}

absl::StatusOr<int> TokenStore::Import(const std::vector<BootstrapToken>& tokens) {
  absl::MutexLock lock(&mu_);
  int added = 0;
  for (const BootstrapToken& t : tokens) {
    if (by_sha256_.count(t.sha256)) continue;
    RECA_RETURN_IF_ERROR(Put(MakeToken(t.name, t.role, t.sha256, "bootstrap",
                                       absl::ToUnixMicros(clock_.Now()))));
    ++added;
  }
  return added;
}

absl::StatusOr<v1::CreateTokenResponse> TokenStore::Create(
    const Caller& by, const v1::CreateTokenRequest& request) {
  RECA_RETURN_IF_ERROR(CheckName(request.name(), "name"));
  if (!v1::Role_IsValid(request.role()) || request.role() == v1::ROLE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "role: ", request.role(), " is not one of user, worker, evaluator, admin"));
  }
  RECA_ASSIGN_OR_RETURN(std::string secret, NewSecret());
  v1::CreateTokenResponse response;
  *response.mutable_token() =
      MakeToken(request.name(), request.role(), TokenSha256(secret),
                by.name.empty() ? "admin" : by.name, absl::ToUnixMicros(clock_.Now()));
  absl::MutexLock lock(&mu_);
  RECA_RETURN_IF_ERROR(Put(response.token()));
  response.set_secret(std::move(secret));
  return response;
}

v1::ListTokensResponse TokenStore::List(const v1::ListTokensRequest& request) const {
  v1::ListTokensResponse response;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [sha256, token] : by_sha256_) {
      if (token.revoked_unix_micros() == 0 || request.include_revoked())
        *response.add_tokens() = token;
    }
  }
  std::sort(response.mutable_tokens()->begin(), response.mutable_tokens()->end(),
            [](const v1::Token& a, const v1::Token& b) {
              return std::make_tuple(a.name(), a.created_unix_micros(), a.id()) <
                     std::make_tuple(b.name(), b.created_unix_micros(), b.id());
            });
  return response;
}

absl::StatusOr<v1::RevokeTokenResponse> TokenStore::Revoke(
    const v1::RevokeTokenRequest& request) {
  const std::string& id = request.id();
  if (id.size() < 6 || id.size() > 64 || !IsLowerHex(id)) {
    return absl::InvalidArgumentError(
        "id: 6 to 64 lowercase hex digits (a token id from `recactl token list`)");
  }
  absl::MutexLock lock(&mu_);
  v1::Token* match = nullptr;
  for (auto& [sha256, token] : by_sha256_) {
    if (!absl::StartsWith(sha256, id)) continue;
    if (match != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("id: ", id, " names more than one token; give more digits"));
    }
    match = &token;
  }
  if (match == nullptr) return absl::NotFoundError(absl::StrCat("token ", id, " not found"));
  v1::RevokeTokenResponse response;
  if (match->revoked_unix_micros() == 0) {
    v1::Token revoked = *match;
    revoked.set_revoked_unix_micros(absl::ToUnixMicros(clock_.Now()));
    RECA_RETURN_IF_ERROR(Put(revoked));
  }
  *response.mutable_token() = by_sha256_[match->sha256()];
  return response;
}

int TokenStore::ValidCount() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count_if(
      by_sha256_.begin(), by_sha256_.end(),
      [](const auto& kv) { return kv.second.revoked_unix_micros() == 0; }));
}

}  // namespace reca::coordinator
