// reca-worker: the worker daemon (DESIGN.md §5.3). Registers with the
// coordinator and runs the ranks it is assigned as reca-train processes.
// SIGTERM/SIGINT: stops its ranks gracefully (they checkpoint and exit),
// reports their exits, exits 0. Bad flags: exit 2.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/daemon_main.h"
#include "common/grpc_client.h"
#include "reca/path_policy.h"
#include "common/failpoint.h"
#include "common/process.h"
#include "common/service_metrics.h"
#include "worker/grpc_coordinator_client.h"
#include "worker/prometheus_export.h"
#include "worker/worker_agent.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070",
          "the coordinator's address, host:port");
ABSL_FLAG(std::string, worker_id, "",
          "this worker's stable name (default: the host name)");
ABSL_FLAG(std::string, address, "127.0.0.1",
          "the address its ranks bind c10d/Gloo to");
ABSL_FLAG(int32_t, cpu_slots, 1, "CPU ranks it can run at once");
ABSL_FLAG(int32_t, gpu_slots, 0, "GPU ranks it can run at once");
ABSL_FLAG(std::string, rendezvous_ports, "29600-29699",
          "ports offered for rank 0's TCPStore, MIN-MAX");
ABSL_FLAG(std::string, trainer, "",
          "the reca-train binary (default: reca-train next to this binary)");
ABSL_FLAG(
    int32_t, threads, 1,
    "LibTorch threads per rank when the job does not say (0 = all cores)");
ABSL_FLAG(std::string, data_roots, ".",
          "the files a job spec names must be inside these directories, "
          "symlinks resolved (comma-separated; the jobs' runs root is always "
          "allowed; empty = anywhere); its ranks check before opening any");
ABSL_FLAG(double, gpu_peak_flops, 0,
          "one GPU's peak FLOP/s for MFU (e.g. 989e12: H100 SXM, dense bf16); "
          "0, and CPU ranks, measure a dense GEMM at start");
ABSL_FLAG(double, stop_grace_s, 30,
          "seconds a stopped rank gets after SIGTERM before SIGKILL");
ABSL_FLAG(double, rpc_deadline_s, 10,
          "deadline of each call to the coordinator, seconds");
ABSL_FLAG(std::string, failpoints, "",
          "tests only: site=crash|error[@N],... (common/failpoint.h; also "
          "RECA_FAILPOINTS)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9471",
          "Prometheus /metrics address, host:port (empty = off)");

namespace {

constexpr int kUsageError = 2;
const char* const kFlags[] = {
    "coordinator",  "worker_id",        "address",       "cpu_slots",
    "gpu_slots",    "rendezvous_ports", "trainer",       "threads",
    "stop_grace_s", "rpc_deadline_s",   "metrics_listen", "gpu_peak_flops", "failpoints",
    "data_roots"};

// kFlags and the credential flags (common/grpc_client.h).
std::vector<std::string> DaemonFlags() {
  std::vector<std::string> flags(std::begin(kFlags), std::end(kFlags));
  for (const std::string& f : reca::ClientCredentialFlags()) flags.push_back(f);
  return flags;
}

// The options, or a usage error naming the flag.
bool BuildOptions(reca::WorkerOptions* o, std::string* error) {
  auto fail = [&](const std::string& flag, const std::string& what) {
    *error = "--" + flag + ": " + what;
    return false;
  };
  if (const std::string f = absl::GetFlag(FLAGS_failpoints); !f.empty()) {
    if (absl::Status s = reca::SetFailpoints(f); !s.ok())
      return fail("failpoints", std::string(s.message()));
  }
  if (!reca::CheckHostPort("coordinator", absl::GetFlag(FLAGS_coordinator),
                           error)) {
    return false;
  }
  o->worker_id = absl::GetFlag(FLAGS_worker_id);
  if (o->worker_id.empty()) o->worker_id = reca::HostName();
  if (o->worker_id.empty())
    return fail("worker_id", "empty, and the host name is unknown");
  o->address = absl::GetFlag(FLAGS_address);
  if (o->address.empty()) return fail("address", "must not be empty");
  o->cpu_slots = absl::GetFlag(FLAGS_cpu_slots);
  o->gpu_slots = absl::GetFlag(FLAGS_gpu_slots);
  if (o->cpu_slots < 0) return fail("cpu_slots", "must be >= 0");
  if (o->gpu_slots < 0) return fail("gpu_slots", "must be >= 0");
  if (o->cpu_slots + o->gpu_slots == 0)
    return fail("cpu_slots", "a worker needs at least one cpu or gpu slot");
  const std::string ports = absl::GetFlag(FLAGS_rendezvous_ports);
  std::vector<std::string> range = absl::StrSplit(ports, '-');
  if (range.size() != 2 ||
      !absl::SimpleAtoi(range[0], &o->rendezvous_port_min) ||
      !absl::SimpleAtoi(range[1], &o->rendezvous_port_max) ||
      o->rendezvous_port_min < 1 || o->rendezvous_port_max > 65535 ||
      o->rendezvous_port_min > o->rendezvous_port_max) {
    return fail("rendezvous_ports",
                "'" + ports + "' is not MIN-MAX with 1 <= MIN <= MAX <= 65535");
  }
  o->trainer_path = absl::GetFlag(FLAGS_trainer);
  if (o->trainer_path.empty())
    o->trainer_path = reca::SiblingBinary("reca-train");
  if (::access(o->trainer_path.c_str(), X_OK) != 0) {
    return fail("trainer",
                "'" + o->trainer_path + "' is not an executable file");
  }
  o->default_threads = absl::GetFlag(FLAGS_threads);
  if (o->default_threads < 0) return fail("threads", "must be >= 0");
  auto roots = reca::ParseRoots("data_roots", absl::GetFlag(FLAGS_data_roots));
  if (!roots.ok()) {
    *error = std::string(roots.status().message());
    return false;
  }
  o->data_roots = *roots;
  o->gpu_peak_flops = absl::GetFlag(FLAGS_gpu_peak_flops);
  if (!std::isfinite(o->gpu_peak_flops) || o->gpu_peak_flops < 0)
    return fail("gpu_peak_flops", "must be a number >= 0 (0 = measure)");
  const double grace = absl::GetFlag(FLAGS_stop_grace_s);
  if (!std::isfinite(grace) || grace < 0)
    return fail("stop_grace_s", "must be a number >= 0");
  o->stop_grace = absl::Seconds(grace);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  reca::WorkerOptions options;
  if (!reca::ParseDaemonFlags(argc, argv, "reca-worker",
                              DaemonFlags(), &error) ||
      !BuildOptions(&options, &error)) {
    std::cerr << "reca-worker: " << error << "\n";
    return kUsageError;
  }
  const double rpc_deadline = absl::GetFlag(FLAGS_rpc_deadline_s);
  if (!std::isfinite(rpc_deadline) || rpc_deadline <= 0) {
    std::cerr << "reca-worker: --rpc_deadline_s: must be a number > 0\n";
    return kUsageError;
  }

  const std::atomic<bool>& stop = reca::InstallStopSignals();

  absl::StatusOr<reca::ClientCredentials> credentials =
      reca::ClientCredentialsFromFlags();
  if (!credentials.ok()) {
    std::cerr << "reca-worker: " << credentials.status().message() << "\n";
    return kUsageError;
  }
  auto client = reca::GrpcCoordinatorClient::Create(
      absl::GetFlag(FLAGS_coordinator), absl::Seconds(rpc_deadline), *credentials);
  reca::PosixProcessLauncher launcher;
  reca::WorkerAgent::Deps deps{*client, launcher, *reca::RealClock::Get(),
                               nullptr, reca::LogLine};
  reca::WorkerAgent agent(std::move(deps), options);
  // Declared before the exposer, which holds it weakly: outlives it.
  auto collector =
      std::make_shared<reca::WorkerCollector>(agent, reca::RecaVersion());
  std::string metrics_url;
  auto exposer = reca::ServeMetricsFlag(absl::GetFlag(FLAGS_metrics_listen),
                                        collector, &metrics_url);
  if (!exposer.ok()) {
    std::cerr << "reca-worker: " << exposer.status().message() << "\n";
    return kUsageError;
  }
  if (!metrics_url.empty())
    reca::LogLine(absl::StrCat("worker ", options.worker_id, ": metrics on ",
                               metrics_url));
  agent.Run(stop);
  return 0;
}
