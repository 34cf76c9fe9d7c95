#include "common/grpc_client.h"

#include <sys/stat.h>

#include <iostream>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "reca/file_util.h"

ABSL_FLAG(std::string, token_file, "",
          "a file holding this daemon's token (`recactl token create`; "
          "`recactl local up` writes them); empty = none");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that signed the coordinator's certificate: connect with TLS "
          "(empty = plaintext)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate this daemon presents to the coordinator (mutual "
          "TLS; with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");

namespace reca {
namespace {

absl::StatusOr<std::string> ReadFlagFile(const std::string& flag,
                                         const std::string& path) {
  StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  return *text;
}

}  // namespace

std::vector<std::string> ClientCredentialFlags() {
  return {"token_file", "tls_ca", "tls_cert", "tls_key"};
}

absl::StatusOr<ClientCredentials> ClientCredentialsFromFlags() {
  ClientCredentials c;
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    absl::StatusOr<std::string> token = ReadFlagFile("token_file", path);
    if (!token.ok()) return token.status();
    c.token = std::string(absl::StripAsciiWhitespace(*token));
    if (c.token.empty() || c.token.find_first_of(" \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file: ", path, ": expected one token"));
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      std::cerr << "warning: --token_file " << path
                << " can be read by other users (chmod 600 it)\n";
    }
  }
  for (auto [flag, value, out] :
       {std::tuple{"tls_ca", absl::GetFlag(FLAGS_tls_ca), &c.tls_ca},
        std::tuple{"tls_cert", absl::GetFlag(FLAGS_tls_cert), &c.tls_cert},
        std::tuple{"tls_key", absl::GetFlag(FLAGS_tls_key), &c.tls_key}}) {
    if (value.empty()) continue;
    absl::StatusOr<std::string> pem = ReadFlagFile(flag, value);
    if (!pem.ok()) return pem.status();
    *out = std::move(*pem);
  }
  if (c.tls_cert.empty() != c.tls_key.empty())
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  if (!c.tls_cert.empty() && c.tls_ca.empty())
    return absl::InvalidArgumentError("--tls_cert needs --tls_ca (TLS to the coordinator)");
  return c;
}

std::shared_ptr<grpc::Channel> CoordinatorChannel(
    const std::string& target, const ClientCredentials& credentials) {
  grpc::ChannelArguments args;
  // Reconnect within a second of a restarted coordinator coming back
  // (gRPC's default backoff grows to minutes). Not GRPC_ARG_MIN_RECONNECT_
  // BACKOFF_MS: gRPC also takes it as the connect timeout, and 100 ms was seen
  // to cut TLS handshakes short ("tcp handshaker shutdown").
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials =
      grpc::InsecureChannelCredentials();
  if (!credentials.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = credentials.tls_ca;
    ssl.pem_cert_chain = credentials.tls_cert;
    ssl.pem_private_key = credentials.tls_key;
    channel_credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(target, channel_credentials, args);
}

}  // namespace reca
