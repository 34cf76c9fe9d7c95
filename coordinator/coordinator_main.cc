// reca-coordinator: the control plane's server (DESIGN.md §5.2). Wiring only:
// flags -> options, RocksDB, the core, the gRPC services, a ticker.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/failpoint.h"
#include "common/rocksdb_kv_store.h"
#include "common/service_metrics.h"
#include "coordinator/auth.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"
#include "coordinator/prometheus_export.h"
#include "coordinator/sweeps.h"
#include "reca/file_util.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "gRPC address (host:port; port 0 = pick a free one)");
ABSL_FLAG(std::string, port_file, "",
          "write the bound port here once serving (for scripts and tests)");
ABSL_FLAG(std::string, db, "runs/service/db",
          "RocksDB directory: jobs, events, leases, checkpoints, metrics");
ABSL_FLAG(std::string, runs_root, "runs/service/runs",
          "jobs' output directories go under here (<root>/<job id>)");
ABSL_FLAG(double, lease_ttl_s, 10,
          "a worker that has not heartbeated for this long is lost");
ABSL_FLAG(double, heartbeat_interval_s, 1, "how often workers heartbeat");
ABSL_FLAG(int, max_request_bytes, 4 << 20, "largest request accepted (bytes)");
ABSL_FLAG(
    double, eval_claim_ttl_s, 60,
    "an evaluator that has not renewed its claim for this long lost it; the "
    "checkpoint is scored by another");
ABSL_FLAG(int, max_spec_bytes, 256 << 10, "largest job spec accepted (bytes)");
ABSL_FLAG(double, stall_timeout_s, 600,
          "a running job none of whose ranks finished a step for this long has "
          "a hung rank: the attempt fails and restarts (0 = off)");
ABSL_FLAG(bool, preempt, true,
          "a queued job that fits the fleet preempts running jobs of lower "
          "priority (they checkpoint, stop and are queued again)");
ABSL_FLAG(std::string, failpoints, "",
          "tests only: site=crash|error[@N],... (common/failpoint.h; also "
          "RECA_FAILPOINTS)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate of the coordinator: serve TLS (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, worker_listen, "",
          "serve the workers' and evaluators' services here instead of on "
          "--listen (host:port)");
ABSL_FLAG(std::string, worker_port_file, "",
          "write the bound --worker_listen port here once serving");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA of the workers' and evaluators' client certificates: "
          "--worker_listen requires and verifies one (mutual TLS)");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "tokens to accept besides those created with `recactl token create`: "
          "lines \"ROLE NAME SHA256\" (the SHA-256 of each token, never the "
          "token); read at start. `recactl local up` writes one");
ABSL_FLAG(std::string, data_roots, ".",
          "the files a job spec names (model.init, model.module, manifests, "
          "shards, templates_file) must be inside these directories "
          "(comma-separated; --runs_root is always allowed; relative paths "
          "are the workers' to check; empty = anywhere)");
ABSL_FLAG(bool, insecure_no_auth, false,
          "accept every call without a token, as an admin (development only)");
ABSL_FLAG(int, max_unfinished_jobs_per_owner, 100,
          "a user with this many jobs queued or running cannot submit more "
          "(0 = no limit)");
ABSL_FLAG(std::string, health_listen, "",
          "also serve only grpc.health.v1.Health here, in plaintext and "
          "without a token, for probes that cannot do TLS (Kubernetes' grpc "
          "probes; host:port, port 0 = pick one; empty = off)");
ABSL_FLAG(std::string, health_port_file, "",
          "write the bound --health_listen port here once serving");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9470",
          "Prometheus /metrics address (host:port; port 0 = pick a free one; "
          "empty = off)");
ABSL_FLAG(std::string, metrics_port_file, "",
          "write the bound /metrics port here once serving");

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& message) {
  std::cerr << "reca-coordinator: " << message << "\n";
  return 1;
}

// Atomically, so a reader never sees a partial number.
bool WritePortFile(const std::string& path, int port) {
  return path.empty() ||
         reca::WriteFileAtomic(path, absl::StrCat(port, "\n")).ok();
}

// Plaintext without a certificate; TLS with one; and when `client_ca` is
// set, a client certificate signed by it is required (mutual TLS).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const std::string& cert, const std::string& key,
    const std::string& client_ca) {
  if (cert.empty() != key.empty())
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  if (cert.empty()) {
    if (!client_ca.empty())
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert");
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options(
      client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  for (auto [flag, path, out] :
       {std::tuple{"tls_cert", cert, &pair.cert_chain},
        std::tuple{"tls_key", key, &pair.private_key},
        std::tuple{"tls_client_ca", client_ca, &options.pem_root_certs}}) {
    if (path.empty()) continue;
    auto text = reca::ReadFile(path);
    if (!text.ok())
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
    *out = *text;
  }
  options.pem_key_cert_pairs.push_back(pair);
  return grpc::SslServerCredentials(options);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "reca-coordinator --listen=HOST:PORT --db=DIR --runs_root=DIR");
  absl::ParseCommandLine(argc, argv);
  using reca::coordinator::Coordinator;
  if (const std::string f = absl::GetFlag(FLAGS_failpoints); !f.empty()) {
    if (absl::Status s = reca::SetFailpoints(f); !s.ok()) {
      std::cerr << "reca-coordinator: --" << s.message() << "\n";
      return 2;
    }
  }

  reca::coordinator::CoordinatorOptions options;
  // Absolute, so that workers started from another directory find the same
  // place.
  options.runs_root = std::filesystem::absolute(absl::GetFlag(FLAGS_runs_root))
                          .lexically_normal()
                          .string();
  options.lease_ttl = absl::Seconds(absl::GetFlag(FLAGS_lease_ttl_s));
  options.heartbeat_interval =
      absl::Seconds(absl::GetFlag(FLAGS_heartbeat_interval_s));
  options.max_spec_bytes = absl::GetFlag(FLAGS_max_spec_bytes);
  options.eval_claim_ttl = absl::Seconds(absl::GetFlag(FLAGS_eval_claim_ttl_s));
  options.stall_timeout = absl::Seconds(absl::GetFlag(FLAGS_stall_timeout_s));
  options.preempt = absl::GetFlag(FLAGS_preempt);
  options.max_unfinished_jobs_per_owner =
      absl::GetFlag(FLAGS_max_unfinished_jobs_per_owner);
  if (auto roots = reca::ParseRoots("data_roots", absl::GetFlag(FLAGS_data_roots));
      roots.ok()) {
    options.data_roots = *roots;
  } else {
    std::cerr << "reca-coordinator: " << roots.status().message() << "\n";
    return 2;
  }
  if (options.lease_ttl <= options.heartbeat_interval) {
    std::cerr << "reca-coordinator: --lease_ttl_s must be greater than "
                 "--heartbeat_interval_s\n";
    return 2;
  }

  auto store = reca::RocksDbKvStore::Open(absl::GetFlag(FLAGS_db));
  if (!store.ok()) return Fail(std::string(store.status().ToString()));
  // Event-driven instruments; the live state is collected at scrape time.
  auto registry = std::make_shared<prometheus::Registry>();
  reca::TimedKvStore timed_store(**store, *registry);
  reca::GrpcServerMetrics rpc_metrics(
      *registry, {"reca.v1.JobService", "reca.v1.WorkerService",
                  "reca.v1.EvaluatorService", "reca.v1.AdminService",
                  "grpc.health.v1.Health"});
  auto coordinator =
      Coordinator::Create({timed_store, *reca::RealClock::Get()}, options);
  if (!coordinator.ok())
    return Fail(std::string(coordinator.status().ToString()));

  // Authentication: bearer tokens, stored hashed next to the jobs.
  auto tokens =
      reca::coordinator::TokenStore::Open(timed_store, *reca::RealClock::Get());
  if (!tokens.ok()) return Fail(std::string(tokens.status().ToString()));
  if (const std::string path = absl::GetFlag(FLAGS_auth_tokens_file);
      !path.empty()) {
    auto text = reca::ReadFile(path);
    if (!text.ok()) return Fail("--auth_tokens_file: " + std::string(text.status().message()));
    auto parsed = reca::coordinator::ParseTokensFile(path, *text);
    if (!parsed.ok()) return Fail("--auth_tokens_file: " + std::string(parsed.status().message()));
    auto added = (*tokens)->Import(*parsed);
    if (!added.ok()) return Fail(std::string(added.status().ToString()));
  }
  const bool auth = !absl::GetFlag(FLAGS_insecure_no_auth);
  if (auth && (*tokens)->ValidCount() == 0) {
    return Fail(
        "no tokens to accept: pass --auth_tokens_file=FILE (lines \"ROLE NAME "
        "SHA256\"; `recactl local up` writes one), or --insecure_no_auth for "
        "development");
  }
  if (!auth) {
    std::cerr << "reca-coordinator: WARNING: --insecure_no_auth: every caller "
                 "is an admin; never expose this port\n";
  }
  reca::AuthDeniedMetrics denied(*registry);
  reca::coordinator::AuthGate gate(
      auth ? tokens->get() : nullptr,
      [&denied](absl::string_view service, absl::StatusCode code) {
        denied.Record(std::string(service),
                      code == absl::StatusCode::kUnauthenticated);
      });

  reca::coordinator::SweepOptions sweep_options;
  sweep_options.default_owner = options.default_owner;
  auto sweeps = reca::coordinator::SweepManager::Create(
      timed_store, *reca::RealClock::Get(), **coordinator, sweep_options);
  if (!sweeps.ok()) return Fail(std::string(sweeps.status().ToString()));
  reca::coordinator::GrpcJobService job_service(**coordinator, **sweeps, gate);
  reca::coordinator::GrpcWorkerService worker_service(**coordinator, gate);
  reca::coordinator::GrpcEvaluatorService evaluator_service(**coordinator,
                                                            gate);
  reca::coordinator::GrpcAdminService admin_service(**tokens, gate);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto server_credentials = ServerCredentials(
      absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key), "");
  if (!server_credentials.ok())
    return Fail(std::string(server_credentials.status().message()));
  // The daemons' services: on --worker_listen when set (with mutual TLS
  // under --tls_client_ca), else next to the users' services.
  const std::string worker_listen = absl::GetFlag(FLAGS_worker_listen);
  auto worker_credentials =
      worker_listen.empty()
          ? server_credentials
          : ServerCredentials(absl::GetFlag(FLAGS_tls_cert),
                              absl::GetFlag(FLAGS_tls_key),
                              absl::GetFlag(FLAGS_tls_client_ca));
  if (!worker_credentials.ok())
    return Fail(std::string(worker_credentials.status().message()));
  if (!absl::GetFlag(FLAGS_tls_client_ca).empty() && worker_listen.empty())
    return Fail("--tls_client_ca needs --worker_listen (the mutual-TLS port)");

  auto build = [&](const std::string& address,
                   std::shared_ptr<grpc::ServerCredentials> credentials,
                   std::vector<grpc::Service*> services, int* port) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, credentials, port);
    builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_request_bytes));
    for (grpc::Service* service : services) builder.RegisterService(service);
    std::vector<std::unique_ptr<
        grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(rpc_metrics.InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    return builder.BuildAndStart();
  };
  std::vector<grpc::Service*> user_services = {&job_service, &admin_service};
  std::vector<grpc::Service*> daemon_services = {&worker_service,
                                                 &evaluator_service};
  if (worker_listen.empty()) {
    user_services.insert(user_services.end(), daemon_services.begin(),
                         daemon_services.end());
  }
  int port = 0, worker_port = 0;
  std::unique_ptr<grpc::Server> server = build(
      absl::GetFlag(FLAGS_listen), *server_credentials, user_services, &port);
  if (server == nullptr || port == 0)
    return Fail("cannot listen on " + absl::GetFlag(FLAGS_listen));
  std::unique_ptr<grpc::Server> worker_server;
  if (!worker_listen.empty()) {
    worker_server =
        build(worker_listen, *worker_credentials, daemon_services, &worker_port);
    if (worker_server == nullptr || worker_port == 0)
      return Fail("cannot listen on --worker_listen " + worker_listen);
  }

  // The probes' port: a server of its own with nothing but the health
  // service (EnableDefaultHealthCheckService adds it to every server).
  std::unique_ptr<grpc::Server> health_server;
  if (const std::string health_listen = absl::GetFlag(FLAGS_health_listen);
      !health_listen.empty()) {
    int health_port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(health_listen, grpc::InsecureServerCredentials(),
                             &health_port);
    health_server = builder.BuildAndStart();
    if (health_server == nullptr || health_port == 0)
      return Fail("cannot listen on --health_listen " + health_listen);
    std::cerr << "reca-coordinator: health checks on "
              << health_listen.substr(0, health_listen.rfind(':')) << ":"
              << health_port << "\n";
    if (!WritePortFile(absl::GetFlag(FLAGS_health_port_file), health_port))
      return Fail("cannot write --health_port_file");
  }

  const bool server_credentials_tls = !absl::GetFlag(FLAGS_tls_cert).empty();
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::cerr << "reca-coordinator: serving on " << host << ":" << port << " (db "
            << absl::GetFlag(FLAGS_db) << ", runs " << options.runs_root
            << ")" << (server_credentials_tls ? ", TLS" : "") << "\n";
  if (worker_server != nullptr) {
    std::cerr << "reca-coordinator: workers and evaluators on "
              << worker_listen.substr(0, worker_listen.rfind(':')) << ":"
              << worker_port
              << (absl::GetFlag(FLAGS_tls_client_ca).empty() ? ""
                                                              : " (mutual TLS)")
              << "\n";
    if (!WritePortFile(absl::GetFlag(FLAGS_worker_port_file), worker_port))
      return Fail("cannot write --worker_port_file");
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  std::shared_ptr<prometheus::Collectable> live;
  if (const std::string addr = absl::GetFlag(FLAGS_metrics_listen);
      !addr.empty()) {
    Coordinator* core = coordinator->get();
    live = std::make_shared<reca::coordinator::SnapshotCollector>(
        [core] { return core->Snapshot(); }, reca::RecaVersion());
    auto started =
        reca::StartMetricsExposer(addr, "--metrics_listen", {registry, live});
    if (!started.ok()) return Fail(std::string(started.status().message()));
    exposer = std::move(*started);
    const int metrics_port = exposer->GetListeningPorts().at(0);
    std::cerr << "reca-coordinator: metrics on "
              << reca::MetricsUrl(addr, *exposer) << "\n";
    if (!WritePortFile(absl::GetFlag(FLAGS_metrics_port_file), metrics_port))
      return Fail("cannot write --metrics_port_file");
  }

  // Last: a script that sees the port file finds both endpoints up.
  if (!WritePortFile(absl::GetFlag(FLAGS_port_file), port))
    return Fail("cannot write --port_file " + absl::GetFlag(FLAGS_port_file));

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  // Lease expiry and scheduling run here; the RPC handlers schedule too.
  while (!g_stop.load()) {
    absl::Status s = (*coordinator)->Tick();
    if (!s.ok()) std::cerr << "reca-coordinator: tick: " << s << "\n";
    s = (*sweeps)->Tick();
    if (!s.ok()) std::cerr << "reca-coordinator: sweeps: " << s << "\n";
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::cerr << "reca-coordinator: shutting down\n";
  // Probes see NOT_SERVING while the servers drain.
  for (grpc::Server* s : {server.get(), worker_server.get(), health_server.get()}) {
    if (s != nullptr && s->GetHealthCheckService() != nullptr)
      s->GetHealthCheckService()->Shutdown();
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (worker_server != nullptr)
    worker_server->Shutdown(std::chrono::system_clock::now() +
                            std::chrono::seconds(2));
  if (health_server != nullptr) health_server->Shutdown();
  return 0;
}
