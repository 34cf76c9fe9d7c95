// The control plane's benchmarks (bench/RESULTS.md, issue 4), each against a
// peer measured side by side in this process:
//
//  1. SubmitJob latency through the real stack in-process (a gRPC stub over
//     loopback -> GrpcJobService -> Coordinator -> RocksDbKvStore, one synced
//     batch per submit) vs raw synced RocksDB writes of a batch of the same
//     size to a second database in the same directory, interleaved call by
//     call (in rounds) so that disk noise hits both alike. Timing wrappers around the handler
//     and the store (no change to the coordinator) split each RPC into gRPC,
//     handler and synced write; a GetJob round trip (no disk) interleaved
//     with them is the gRPC floor.
//  2. Heartbeat handling: the real reca-coordinator binary as a subprocess,
//     --workers simulated workers heartbeating once a second each, spread
//     evenly over the second (open loop: callback-API client, one channel per
//     worker by default). --jobs one-rank jobs are placed first, and their
//     workers report the running rank with progress and --points metric
//     points in every heartbeat. The coordinator's CPU time (utime + stime,
//     /proc/<pid>/stat) over the window / the window's wall time = the cores
//     it uses; the peer is this process's own (the load generator's) share,
//     measured the same way over the same window. The same heartbeats sent
//     straight into a Coordinator in this process (no gRPC) give the
//     handler's own share.
//
//   coordinator_bench [--mode=all|submit|heartbeat] [--dir=DIR]
//                     [--coordinator_bin=PATH] (default: next to this binary)
//
// Prints "key value" lines (bench/run_service_bench.sh reads them); the
// in-process coordinator's log goes to stderr.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/kv_store.h"
#include "common/rocksdb_kv_store.h"
#include "coordinator/auth.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"
#include "coordinator/handlers.h"
#include "coordinator/sweeps.h"
#include "reca/v1/job.pb.h"
#include "reca/v1/job_service.grpc.pb.h"
#include "reca/v1/worker_service.grpc.pb.h"

ABSL_FLAG(std::string, mode, "all", "all | submit | heartbeat");
ABSL_FLAG(std::string, dir, "/tmp/reca-coordinator-bench",
          "scratch directory (wiped first, removed at the end unless --keep); must be on the disk to measure");
ABSL_FLAG(bool, keep, false, "keep --dir (databases, the coordinator's log)");
ABSL_FLAG(int, submits, 300, "SubmitJob calls measured (and as many raw writes), split over --rounds");
ABSL_FLAG(int, rounds, 5, "rounds alternating raw writes and SubmitJob calls");
ABSL_FLAG(int, warmup, 10, "unmeasured raw writes and submits first");
ABSL_FLAG(std::string, coordinator_bin, "", "reca-coordinator binary (default: found next to this binary)");
ABSL_FLAG(int, workers, 1000, "simulated workers (1 cpu slot each)");
ABSL_FLAG(int, jobs, 100, "one-rank jobs placed before the window (their workers report a running rank)");
ABSL_FLAG(int, points, 5, "metric points per running rank per heartbeat");
ABSL_FLAG(int, channels, 0, "client channels (connections); 0 = one per worker");
ABSL_FLAG(double, warmup_s, 3, "seconds of heartbeats before the measured window");
ABSL_FLAG(double, window_s, 15, "measured window (seconds)");
ABSL_FLAG(double, idle_s, 3, "then this long without traffic: the coordinator's idle CPU");
ABSL_FLAG(double, timeout_s, 300, "the whole bench is killed (with the coordinator) after this long");

extern char** environ;

namespace {

namespace v1 = reca::v1;
using Steady = std::chrono::steady_clock;

double Now() { return std::chrono::duration<double>(Steady::now().time_since_epoch()).count(); }

[[noreturn]] void Die(const std::string& message);

// --- statistics -------------------------------------------------------------

double Percentile(std::vector<double> v, double p) {  // nearest rank
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}
double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}
void PrintStats(const std::string& key, const std::vector<double>& ms) {
  std::printf("%s_p50_ms %.3f\n%s_p99_ms %.3f\n%s_mean_ms %.3f\n%s_max_ms %.3f\n", key.c_str(), Percentile(ms, 50),
              key.c_str(), Percentile(ms, 99), key.c_str(), Mean(ms), key.c_str(), Percentile(ms, 100));
}

// --- the coordinator subprocess and the watchdog ----------------------------

std::atomic<pid_t> g_child{0};

void KillChild() {
  const pid_t pid = g_child.exchange(0);
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {  // 5 s to shut down, then SIGKILL
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

[[noreturn]] void Die(const std::string& message) {
  std::fflush(stdout);
  std::cerr << "coordinator_bench: " << message << std::endl;
  KillChild();
  std::exit(1);
}

// Kills the coordinator and exits if the bench runs past --timeout_s.
void StartWatchdog(double seconds) {
  std::thread([seconds] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    std::fflush(stdout);
    std::cerr << "coordinator_bench: still running after " << seconds << " s; killing it" << std::endl;
    const pid_t pid = g_child.exchange(0);
    if (pid > 0) ::kill(pid, SIGKILL);
    std::_Exit(3);
  }).detach();
}

// utime + stime of `pid` ("self" for this process), in seconds.
double CpuSeconds(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(f, line)) Die("cannot read /proc/" + pid + "/stat");
  std::istringstream rest(line.substr(line.rfind(')') + 2));  // comm may hold spaces
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  if (fields.size() < 13) Die("short /proc/" + pid + "/stat");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string FindCoordinator(const char* argv0) {
  if (!absl::GetFlag(FLAGS_coordinator_bin).empty()) return absl::GetFlag(FLAGS_coordinator_bin);
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) self = argv0;
  const std::filesystem::path dir = self.parent_path();
  for (const std::filesystem::path& p :
       {dir / "reca-coordinator",                    // CMake: build/bin
        dir / "../../coordinator/reca-coordinator",  // bazel-bin/bench/cc
        std::filesystem::path(self.string() + ".runfiles/reca/coordinator/reca-coordinator")}) {
    if (::access(p.c_str(), X_OK) == 0) return p.lexically_normal().string();
  }
  Die("no reca-coordinator next to " + self.string() + "; pass --coordinator_bin");
}

// --- a realistic submit -------------------------------------------------------

// The shapes RecA spec of examples/reca.yaml (without the init checkpoint).
v1::SubmitJobRequest RecaRequest(const std::string& request_id) {
  v1::SubmitJobRequest r;
  r.set_request_id(request_id);
  v1::JobSpec& s = *r.mutable_spec();
  s.set_name("bench-reca");
  s.set_seed(0);
  s.set_steps(400);
  s.set_batch_per_rank(16);
  s.set_log_every(25);
  auto* recon = s.mutable_data()->add_sources();
  recon->set_type("shapes");
  recon->set_task("recon");
  recon->set_repeat(2);
  auto* i2t = s.mutable_data()->add_sources();
  i2t->set_type("shapes");
  i2t->set_task("i2t");
  i2t->set_repeat(2);
  s.mutable_reca()->set_cfg_drop(0.1);
  s.mutable_optimizer()->set_lr(5e-4);
  s.mutable_schedule()->set_warmup_steps(-1);
  s.mutable_schedule()->set_decay("cosine");
  s.mutable_checkpoint()->set_every(100);
  s.mutable_checkpoint()->set_keep(2);
  r.mutable_resources()->set_ranks(1);
  r.mutable_resources()->set_accelerator(v1::CPU);
  r.set_owner("bench");
  return r;
}

// What Coordinator::HandleSubmitJob writes for `request` (coordinator/keys.h):
// the job counter, the idempotency record (job id + the request without its
// id), the first event and the job record, as one synced batch.
reca::WriteBatch SubmitLikeBatch(const v1::SubmitJobRequest& request, int64_t seq, const std::string& runs_root) {
  const std::string id = absl::StrFormat("job-%08d", seq);
  v1::Job job;
  job.set_id(id);
  job.set_name(request.spec().name());
  job.set_owner(request.owner());
  *job.mutable_spec() = request.spec();
  *job.mutable_resources() = request.resources();
  job.set_state(v1::QUEUED);
  job.set_output_dir(runs_root + "/" + id);
  job.set_total_steps(request.spec().steps());
  job.set_submit_unix_micros(absl::ToUnixMicros(absl::Now()));
  job.set_latest_checkpoint_step(-1);
  job.set_request_id(request.request_id());
  job.set_version(1);
  job.set_event_count(1);
  v1::JobEvent event;
  event.set_job_id(id);
  event.set_seq(0);
  event.set_unix_micros(job.submit_unix_micros());
  event.set_state(v1::QUEUED);
  event.set_message(absl::StrCat("submitted by bench: 1 cpu rank, ", request.spec().steps(), " steps, priority 0"));
  v1::SubmitJobRequest fingerprint = request;
  fingerprint.clear_request_id();
  reca::WriteBatch batch;
  batch.Put("meta/next_job_seq", std::to_string(seq + 1));
  batch.Put("idem/" + request.request_id(), id + "\n" + fingerprint.SerializeAsString());
  batch.Put(absl::StrFormat("event/%s/%010d", id, 0), event.SerializeAsString());
  batch.Put("job/" + id, job.SerializeAsString());
  return batch;  // synced (the default)
}

// --- timing wrappers (the coordinator itself is unchanged) --------------------

// Forwards to a store and records how long each synced Write took.
class TimedKvStore : public reca::KvStore {
 public:
  explicit TimedKvStore(reca::KvStore& inner) : inner_(inner) {}
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const override { return inner_.Get(key); }
  absl::Status Write(const reca::WriteBatch& batch) override {
    const double t0 = Now();
    absl::Status s = inner_.Write(batch);
    const double t = Now() - t0;
    if (batch.sync()) {
      std::lock_guard<std::mutex> lock(mu_);
      synced_seconds_ += t;
      synced_bytes_ += batch.ByteSize();
      ++synced_writes_;
    }
    return s;
  }
  // Synced writes since the last call: seconds, bytes, count.
  void Take(double* seconds, size_t* bytes, int* writes) {
    std::lock_guard<std::mutex> lock(mu_);
    *seconds = synced_seconds_, *bytes = synced_bytes_, *writes = synced_writes_;
    synced_seconds_ = 0, synced_bytes_ = 0, synced_writes_ = 0;
  }

 protected:
  absl::StatusOr<std::vector<reca::KeyValue>> ScanPage(const std::string& prefix, const std::string& start_after,
                                                       size_t limit) const override {
    return inner_.Scan(prefix, start_after, limit);
  }

 private:
  reca::KvStore& inner_;
  std::mutex mu_;
  double synced_seconds_ = 0;
  size_t synced_bytes_ = 0;
  int synced_writes_ = 0;
};

// Forwards to the coordinator and records how long HandleSubmitJob took.
using reca::coordinator::Caller;

// The heartbeat benchmark's tokens (only their hashes reach the coordinator).
constexpr char kWorkerToken[] = "reca_bench_worker_token";
constexpr char kUserToken[] = "reca_bench_user_token";

class TimedJobHandler : public reca::coordinator::JobHandler {
 public:
  explicit TimedJobHandler(reca::coordinator::JobHandler& inner) : inner_(inner) {}
  absl::StatusOr<v1::SubmitJobResponse> HandleSubmitJob(const Caller& caller,
                                                        const v1::SubmitJobRequest& request) override {
    const double t0 = Now();
    auto r = inner_.HandleSubmitJob(caller, request);
    last_submit_seconds_.store(Now() - t0);
    return r;
  }
  absl::StatusOr<v1::GetJobResponse> HandleGetJob(const Caller& c, const v1::GetJobRequest& r) override {
    return inner_.HandleGetJob(c, r);
  }
  absl::StatusOr<v1::ListJobsResponse> HandleListJobs(const Caller& c, const v1::ListJobsRequest& r) override {
    return inner_.HandleListJobs(c, r);
  }
  absl::StatusOr<v1::CancelJobResponse> HandleCancelJob(const Caller& c, const v1::CancelJobRequest& r) override {
    return inner_.HandleCancelJob(c, r);
  }
  absl::StatusOr<v1::GetMetricsResponse> HandleGetMetrics(const Caller& c, const v1::GetMetricsRequest& r) override {
    return inner_.HandleGetMetrics(c, r);
  }
  absl::StatusOr<v1::ListCheckpointsResponse> HandleListCheckpoints(const Caller& c, const v1::ListCheckpointsRequest& r) override {
    return inner_.HandleListCheckpoints(c, r);
  }
  absl::StatusOr<v1::ListEvaluationsResponse> HandleListEvaluations(const Caller& c, const v1::ListEvaluationsRequest& r) override {
    return inner_.HandleListEvaluations(c, r);
  }
  absl::StatusOr<int64_t> HandleWatchJob(const Caller& c, const v1::WatchJobRequest& r,
                                         WatchCallback on_update) override {
    return inner_.HandleWatchJob(c, r, std::move(on_update));
  }
  void CancelWatch(int64_t id) override { inner_.CancelWatch(id); }
  double last_submit_seconds() const { return last_submit_seconds_.load(); }

 private:
  reca::coordinator::JobHandler& inner_;
  std::atomic<double> last_submit_seconds_{0};
};

// --- 1. SubmitJob vs raw synced writes ----------------------------------------

void SubmitBench(const std::string& dir) {
  const int n = absl::GetFlag(FLAGS_submits), rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  const int per_round = std::max(1, n / rounds), warmup = absl::GetFlag(FLAGS_warmup);

  auto raw = reca::RocksDbKvStore::Open(dir + "/raw_db");
  if (!raw.ok()) Die(raw.status().ToString());
  auto db = reca::RocksDbKvStore::Open(dir + "/coordinator_db");
  if (!db.ok()) Die(db.status().ToString());
  TimedKvStore store(**db);
  reca::coordinator::CoordinatorOptions options;
  options.runs_root = dir + "/runs";
  options.max_unfinished_jobs_per_owner = 0;  // thousands of queued jobs
  auto coordinator = reca::coordinator::Coordinator::Create({store, *reca::RealClock::Get()}, options);
  if (!coordinator.ok()) Die(coordinator.status().ToString());
  TimedJobHandler handler(**coordinator);
  const reca::coordinator::AuthGate gate(nullptr);  // authentication off
  auto sweeps = reca::coordinator::SweepManager::Create(store, *reca::RealClock::Get(), **coordinator);
  if (!sweeps.ok()) Die(sweeps.status().ToString());
  reca::coordinator::GrpcJobService job_service(handler, **sweeps, gate);
  reca::coordinator::GrpcWorkerService worker_service(**coordinator, gate);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&job_service);
  builder.RegisterService(&worker_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) Die("cannot start the in-process gRPC server");
  auto stub = v1::JobService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  int64_t raw_seq = 1, submit_seq = 0;
  std::vector<double> raw_ms, rpc_ms, handler_ms, write_ms, other_ms, grpc_ms, get_ms;
  std::string last_job_id;
  std::vector<double> submit_bytes, raw_bytes;
  auto raw_write = [&](bool record) {
    reca::WriteBatch batch =
        SubmitLikeBatch(RecaRequest(absl::StrCat("bench-", ::getpid(), "-", raw_seq)), raw_seq, options.runs_root);
    ++raw_seq;
    const double t0 = Now();
    absl::Status s = (*raw)->Write(batch);
    const double t = Now() - t0;
    if (!s.ok()) Die(s.ToString());
    if (record) raw_ms.push_back(t * 1e3), raw_bytes.push_back(static_cast<double>(batch.ByteSize()));
  };
  auto submit = [&](bool record) {
    v1::SubmitJobRequest request = RecaRequest(absl::StrCat("bench-", ::getpid(), "-", submit_seq++));
    v1::SubmitJobResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    double ignored_s;
    size_t ignored_b;
    int ignored_n;
    store.Take(&ignored_s, &ignored_b, &ignored_n);
    const double t0 = Now();
    grpc::Status s = stub->SubmitJob(&context, request, &response);
    const double t = Now() - t0;
    if (!s.ok()) Die("SubmitJob: " + s.error_message());
    if (!response.created() || response.job().state() != v1::QUEUED) Die("SubmitJob: unexpected response");
    last_job_id = response.job().id();
    double write_s;
    size_t bytes;
    int writes;
    store.Take(&write_s, &bytes, &writes);
    if (!record) return;
    rpc_ms.push_back(t * 1e3);
    handler_ms.push_back(handler.last_submit_seconds() * 1e3);
    grpc_ms.push_back((t - handler.last_submit_seconds()) * 1e3);
    write_ms.push_back(write_s * 1e3);
    other_ms.push_back((handler.last_submit_seconds() - write_s) * 1e3);
    submit_bytes.push_back(static_cast<double>(bytes));
    if (writes != 1) Die(absl::StrCat("a submit made ", writes, " synced writes (expected 1)"));
  };

  // The gRPC floor: GetJob of the newest job (the handler only copies it: no
  // disk), a response of about the same size as a submit's.
  auto get = [&](bool record) {
    v1::GetJobRequest request;
    request.set_job_id(last_job_id);
    v1::GetJobResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    const double t0 = Now();
    grpc::Status s = stub->GetJob(&context, request, &response);
    const double t = Now() - t0;
    if (!s.ok()) Die("GetJob: " + s.error_message());
    if (record) get_ms.push_back(t * 1e3);
  };

  for (int i = 0; i < warmup; ++i) raw_write(false), submit(false), get(false);
  for (int r = 0; r < rounds; ++r) {
    const size_t raw0 = raw_ms.size(), rpc0 = rpc_ms.size(), get0 = get_ms.size();
    // One of each in turn, in an order that rotates per round. Not in blocks:
    // back-to-back synced writes from one thread sometimes take a whole
    // scheduler tick (4 ms) each on the VM this was written on, while the
    // same writes spaced by a few hundred microseconds (as submits are) or
    // from different threads do not, so a block of raw writes would be
    // measured in a regime the submits never see.
    for (int i = 0; i < per_round; ++i) {
      for (int side = 0; side < 3; ++side) {
        const int which = (side + r) % 3;
        which == 0 ? raw_write(true) : which == 1 ? submit(true) : get(true);
      }
    }
    auto tail = [](const std::vector<double>& v, size_t from) {
      return std::vector<double>(v.begin() + from, v.end());
    };
    const auto rr = tail(raw_ms, raw0), sr = tail(rpc_ms, rpc0), wr = tail(write_ms, rpc0), orr = tail(other_ms, rpc0),
               gr = tail(get_ms, get0);
    std::printf(
        "round %d: raw write p50 %.3f p99 %.3f | SubmitJob p50 %.3f p99 %.3f (its write p50 %.3f, handler minus write "
        "p50 %.3f) | "
        "GetJob p50 %.3f p99 %.3f ms\n",
        r + 1, Percentile(rr, 50), Percentile(rr, 99), Percentile(sr, 50), Percentile(sr, 99), Percentile(wr, 50),
        Percentile(orr, 50), Percentile(gr, 50), Percentile(gr, 99));
    std::fflush(stdout);
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));

  std::printf("submit_n %zu\n", rpc_ms.size());
  std::printf("raw_batch_bytes %.0f\n", Percentile(raw_bytes, 50));
  std::printf("submit_batch_bytes %.0f\n", Percentile(submit_bytes, 50));
  PrintStats("raw", raw_ms);
  PrintStats("submit", rpc_ms);
  PrintStats("submit_handler", handler_ms);
  PrintStats("submit_write", write_ms);
  PrintStats("submit_handler_other", other_ms);
  PrintStats("submit_grpc", grpc_ms);
  PrintStats("getjob", get_ms);
  std::printf("submit_ratio_p99 %.3f\n", Percentile(rpc_ms, 99) / Percentile(raw_ms, 99));
  std::printf("submit_ratio_p50 %.3f\n", Percentile(rpc_ms, 50) / Percentile(raw_ms, 50));
  std::fflush(stdout);
}

// --- 2. heartbeats from simulated workers -------------------------------------

struct SimWorker {
  std::string id, lease_id;
  int channel = 0;
  std::mutex mu;
  bool has_rank = false;  // an assignment arrived: report it running from now on
  std::string job_id;
  int64_t epoch = 0;
  int rank = 0;
  int64_t step = 0;
};

// `w`'s next heartbeat; with its rank (running, progress, metric points) once
// it has one. Returns whether it carries a rank.
bool BuildHeartbeat(SimWorker& w, v1::HeartbeatRequest* request) {
  request->set_worker_id(w.id);
  request->set_lease_id(w.lease_id);
  std::lock_guard<std::mutex> lock(w.mu);
  if (!w.has_rank) return false;
  w.step += 10;
  v1::RankStatus* rs = request->add_ranks();
  rs->set_job_id(w.job_id);
  rs->set_epoch(w.epoch);
  rs->set_rank(w.rank);
  rs->set_running(true);
  v1::RankProgress* p = rs->mutable_progress();
  p->set_step(w.step);
  p->set_loss(2.5 - 1e-4 * w.step);
  p->set_samples_per_second(180.5);
  p->set_step_seconds(0.35);
  p->set_data_wait_seconds(0.001);
  static const char* kNames[] = {
      "loss", "samples_per_s", "lr", "grad_norm", "loss_by_source/shapes-recon", "loss_by_source/shapes-i2t"};
  for (int i = 0; i < absl::GetFlag(FLAGS_points); ++i) {
    v1::MetricPoint* m = rs->add_points();
    m->set_name(kNames[i % 6]);
    m->set_step(w.step);
    m->set_value(1.0 / (1 + w.step) + i);
  }
  return true;
}

// What a worker does with the answer: start what it is assigned, stop what is cancelled.
void ApplyResponse(const v1::HeartbeatResponse& response, SimWorker& w) {
  std::lock_guard<std::mutex> lock(w.mu);
  for (const v1::Assignment& a : response.assignments()) {
    w.has_rank = true, w.job_id = a.job_id(), w.epoch = a.epoch(), w.rank = a.rank();
  }
  for (const v1::Cancellation& c : response.cancellations()) {
    if (c.job_id() == w.job_id) w.has_rank = false;
  }
}

double ThreadCpuSeconds() {
  timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// The same heartbeats straight into a Coordinator over RocksDB in this process
// (no gRPC): the handler's own CPU cost per heartbeat, to split the
// subprocess's total. Returns microseconds of CPU per call (of rank-carrying
// and rank-free heartbeats together, in the window's proportion).
double HandlerMicrosPerHeartbeat(const std::string& dir, int n, int jobs) {
  auto db = reca::RocksDbKvStore::Open(dir + "/handler_db");
  if (!db.ok()) Die(db.status().ToString());
  reca::coordinator::CoordinatorOptions options;
  options.runs_root = dir + "/handler_runs";
  options.max_unfinished_jobs_per_owner = 0;
  options.lease_ttl = absl::Seconds(30);
  auto c = reca::coordinator::Coordinator::Create({**db, *reca::RealClock::Get()}, options);
  if (!c.ok()) Die(c.status().ToString());
  std::vector<SimWorker> workers(n);
  for (int i = 0; i < n; ++i) {
    v1::RegisterWorkerRequest request;
    workers[i].id = absl::StrFormat("sim-%04d", i);
    request.set_worker_id(workers[i].id);
    request.set_address("127.0.0.1");
    request.set_cpu_slots(1);
    request.set_rendezvous_port_min(30000);
    request.set_rendezvous_port_max(30099);
    auto r = (*c)->HandleRegisterWorker(request);
    if (!r.ok()) Die(r.status().ToString());
    workers[i].lease_id = r->lease_id();
  }
  for (int j = 0; j < jobs; ++j) {
    auto r = (*c)->HandleSubmitJob(Caller::Trusted(), RecaRequest(absl::StrCat("handler-", j)));
    if (!r.ok()) Die(r.status().ToString());
  }
  const int warm_passes = 2, passes = 5;
  double cpu0 = 0;
  for (int pass = 0; pass < warm_passes + passes; ++pass) {
    if (pass == warm_passes) cpu0 = ThreadCpuSeconds();
    for (SimWorker& w : workers) {
      v1::HeartbeatRequest request;
      BuildHeartbeat(w, &request);
      auto r = (*c)->HandleHeartbeat(request);
      if (!r.ok()) Die("HandleHeartbeat: " + r.status().ToString());
      ApplyResponse(*r, w);
    }
  }
  return (ThreadCpuSeconds() - cpu0) / (passes * static_cast<double>(n)) * 1e6;
}

class HeartbeatLoad {
 public:
  explicit HeartbeatLoad(std::vector<std::unique_ptr<v1::WorkerService::Stub>>& stubs) : stubs_(stubs) {}

  // Sends one heartbeat of `w` (asynchronously); `measured`: it counts.
  void Send(SimWorker& w, bool measured) {
    auto* call = new Call;
    call->worker = &w;
    call->measured = measured;
    if (BuildHeartbeat(w, &call->request) && measured) with_rank_.fetch_add(1);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    in_flight_.fetch_add(1);
    if (measured) sent_.fetch_add(1);
    call->t0 = Now();
    stubs_[w.channel]->async()->Heartbeat(&call->context, &call->request, &call->response,
                                          [this, call](grpc::Status s) { Done(call, s); });
  }

  void WaitIdle(double timeout_s) {
    const double until = Now() + timeout_s;
    while (in_flight_.load() > 0 && Now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (in_flight_.load() > 0) Die(absl::StrCat(in_flight_.load(), " heartbeats still in flight"));
  }

  std::vector<double> latencies_ms() {
    std::lock_guard<std::mutex> lock(mu_);
    return latencies_ms_;
  }
  int64_t sent() const { return sent_.load(); }
  int64_t ok() const { return ok_.load(); }
  int64_t errors() const { return errors_.load(); }
  int64_t with_rank() const { return with_rank_.load(); }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  struct Call {
    Call() { context.AddMetadata("authorization", std::string("Bearer ") + kWorkerToken); }
    grpc::ClientContext context;
    v1::HeartbeatRequest request;
    v1::HeartbeatResponse response;
    SimWorker* worker = nullptr;
    bool measured = false;
    double t0 = 0;
  };

  void Done(Call* call, const grpc::Status& s) {
    const double ms = (Now() - call->t0) * 1e3;
    if (s.ok()) ApplyResponse(call->response, *call->worker);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (call->measured && s.ok()) latencies_ms_.push_back(ms);
      if (!s.ok() && first_error_.empty()) {
        first_error_ = absl::StrCat(call->worker->id, ": ", s.error_code(), " ", s.error_message());
      }
    }
    if (call->measured) (s.ok() ? ok_ : errors_).fetch_add(1);
    if (!call->measured && !s.ok()) errors_.fetch_add(1);
    delete call;
    in_flight_.fetch_sub(1);
  }

  std::vector<std::unique_ptr<v1::WorkerService::Stub>>& stubs_;
  std::atomic<int64_t> in_flight_{0}, sent_{0}, ok_{0}, errors_{0}, with_rank_{0};
  std::mutex mu_;
  std::vector<double> latencies_ms_;
  std::string first_error_;
};

pid_t SpawnCoordinator(const std::string& bin, const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) Die(absl::StrCat("cannot start ", bin, ": ", std::strerror(rc)));
  return pid;
}

void HeartbeatBench(const std::string& dir, const std::string& bin) {
  const int n = absl::GetFlag(FLAGS_workers), jobs = absl::GetFlag(FLAGS_jobs);
  const int channels = absl::GetFlag(FLAGS_channels) > 0 ? std::min(absl::GetFlag(FLAGS_channels), n) : n;
  // One connection per worker takes a descriptor each, on both sides.
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;  // the coordinator inherits it
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }

  const double handler_us = HandlerMicrosPerHeartbeat(dir, n, jobs);
  std::printf("in-process handler: %.1f us of CPU per heartbeat\n", handler_us);

  const std::string port_file = dir + "/coordinator.port";
  // Authentication on, as deployed: a worker token for the heartbeats, a user token for the jobs.
  const std::string tokens_file = dir + "/tokens";
  {
    std::ofstream tokens(tokens_file);
    tokens << "worker sim " << reca::coordinator::TokenSha256(kWorkerToken) << "\n"
           << "user bench " << reca::coordinator::TokenSha256(kUserToken) << "\n";
  }
  const pid_t pid = SpawnCoordinator(bin,
                                     {"--listen=127.0.0.1:0", "--port_file=" + port_file, "--metrics_listen=", "--db=" + dir + "/hb_db",
                                      "--runs_root=" + dir + "/hb_runs", "--lease_ttl_s=30",
                                      "--auth_tokens_file=" + tokens_file, "--max_unfinished_jobs_per_owner=0"},
                                     dir + "/coordinator.log");
  g_child.store(pid);
  int port = 0;
  for (const double until = Now() + 30; port == 0;) {
    std::ifstream f(port_file);
    if (f >> port && port > 0) break;
    port = 0;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      g_child.store(0);
      Die("reca-coordinator exited at startup; see " + dir + "/coordinator.log (--keep)");
    }
    if (Now() > until) Die("reca-coordinator wrote no port file in 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string target = absl::StrCat("127.0.0.1:", port);
  std::printf("coordinator pid %d on %s (%s)\n", pid, target.c_str(), bin.c_str());

  // Separate channels must not share one connection: a local subchannel pool each.
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(
        v1::WorkerService::NewStub(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  auto job_stub = v1::JobService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto deadline = [](double s) {
    return std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(s * 1e3));
  };

  std::vector<SimWorker> workers(n);
  const double t_register = Now();
  for (int i = 0; i < n; ++i) {
    SimWorker& w = workers[i];
    w.id = absl::StrFormat("sim-%04d", i);
    w.channel = i % channels;
    v1::RegisterWorkerRequest request;
    request.set_worker_id(w.id);
    request.set_address("127.0.0.1");
    request.set_cpu_slots(1);
    request.set_rendezvous_port_min(30000);
    request.set_rendezvous_port_max(30099);
    v1::RegisterWorkerResponse response;
    grpc::ClientContext context;
    context.set_deadline(deadline(30));
    context.AddMetadata("authorization", std::string("Bearer ") + kWorkerToken);
    grpc::Status s = stubs[w.channel]->RegisterWorker(&context, request, &response);
    if (!s.ok()) Die("RegisterWorker " + w.id + ": " + s.error_message());
    w.lease_id = response.lease_id();
  }
  const double register_s = Now() - t_register;
  std::printf("registered %d workers over %d channels in %.2f s\n", n, channels, register_s);
  for (int j = 0; j < jobs; ++j) {
    v1::SubmitJobRequest request = RecaRequest(absl::StrCat("hb-", j));
    v1::SubmitJobResponse response;
    grpc::ClientContext context;
    context.set_deadline(deadline(30));
    context.AddMetadata("authorization", std::string("Bearer ") + kUserToken);
    grpc::Status s = job_stub->SubmitJob(&context, request, &response);
    if (!s.ok()) Die("SubmitJob: " + s.error_message());
    if (response.job().state() != v1::SCHEDULED) Die("a job was not placed at once: " + response.job().queue_reason());
  }
  std::printf("submitted %d one-rank jobs (all placed) in %.2f s since the first registration\n", jobs,
              Now() - t_register);
  std::fflush(stdout);

  // Open loop: heartbeat k goes to worker k % n at start + k / n seconds.
  HeartbeatLoad load(stubs);
  const int64_t warm_slots = static_cast<int64_t>(absl::GetFlag(FLAGS_warmup_s) * n);
  const int64_t window_slots = static_cast<int64_t>(absl::GetFlag(FLAGS_window_s) * n);
  const auto interval = std::chrono::nanoseconds(1000000000LL / n);
  const auto start = Steady::now() + std::chrono::milliseconds(50);
  double cpu0_coord = 0, cpu0_self = 0, wall0 = 0;
  int64_t late = 0;  // sent more than 1 ms after their slot (the sender fell behind)
  const std::string child = std::to_string(pid);
  for (int64_t k = 0; k < warm_slots + window_slots; ++k) {
    const auto slot = start + k * interval;
    std::this_thread::sleep_until(slot);
    if (k == warm_slots) cpu0_coord = CpuSeconds(child), cpu0_self = CpuSeconds("self"), wall0 = Now();
    if (k >= warm_slots && Steady::now() - slot > std::chrono::milliseconds(1)) ++late;
    load.Send(workers[k % n], k >= warm_slots);
  }
  std::this_thread::sleep_until(start + (warm_slots + window_slots) * interval);
  const double wall = Now() - wall0;
  const double coord_cpu = CpuSeconds(child) - cpu0_coord, self_cpu = CpuSeconds("self") - cpu0_self;
  load.WaitIdle(15);

  // Idle: no traffic (leases stay valid: --lease_ttl_s=30).
  const double idle0_cpu = CpuSeconds(child), idle0 = Now();
  std::this_thread::sleep_for(std::chrono::duration<double>(absl::GetFlag(FLAGS_idle_s)));
  const double idle_cores = (CpuSeconds(child) - idle0_cpu) / (Now() - idle0);

  // Sanity: the jobs run, the metric points arrived.
  v1::ListJobsRequest list;
  list.add_states(v1::RUNNING);
  list.set_page_size(1000);
  v1::ListJobsResponse running;
  grpc::ClientContext list_context;
  list_context.set_deadline(deadline(30));
  list_context.AddMetadata("authorization", std::string("Bearer ") + kUserToken);
  if (!job_stub->ListJobs(&list_context, list, &running).ok()) Die("ListJobs failed");
  int64_t points = -1;
  if (running.jobs_size() > 0) {
    v1::GetMetricsRequest get;
    get.set_job_id(running.jobs(0).id());
    get.set_rank(-1);
    v1::GetMetricsResponse metrics;
    grpc::ClientContext metrics_context;
    metrics_context.set_deadline(deadline(30));
    metrics_context.AddMetadata("authorization", std::string("Bearer ") + kUserToken);
    if (job_stub->GetMetrics(&metrics_context, get, &metrics).ok()) points = metrics.points_size();
  }
  KillChild();

  const std::vector<double> ms = load.latencies_ms();
  std::printf("hb_workers %d\nhb_channels %d\nhb_jobs %d\nhb_register_s %.2f\n", n, channels, jobs, register_s);
  std::printf("hb_window_s %.2f\nhb_sent %lld\nhb_ok %lld\nhb_errors %lld\nhb_late_sends %lld\n", wall,
              static_cast<long long>(load.sent()), static_cast<long long>(load.ok()),
              static_cast<long long>(load.errors()), static_cast<long long>(late));
  std::printf("hb_rate_per_s %.1f\n", load.ok() / wall);
  std::printf("hb_with_rank_fraction %.3f\n", load.sent() ? static_cast<double>(load.with_rank()) / load.sent() : 0);
  PrintStats("hb", ms);
  std::printf("coordinator_cores %.4f\n", coord_cpu / wall);
  std::printf("coordinator_us_per_hb %.1f\n", load.ok() ? coord_cpu / load.ok() * 1e6 : 0);
  std::printf("handler_us_per_hb %.1f\n", handler_us);
  std::printf("client_cores %.4f\n", self_cpu / wall);
  std::printf("client_us_per_hb %.1f\n", load.ok() ? self_cpu / load.ok() * 1e6 : 0);
  std::printf("coordinator_idle_cores %.4f\n", idle_cores);
  std::printf("running_jobs %d\nmetric_points_first_job %lld\n", running.jobs_size(), static_cast<long long>(points));
  std::fflush(stdout);
  if (load.errors() > 0) Die(absl::StrCat(load.errors(), " heartbeats failed; first: ", load.first_error()));
  if (running.jobs_size() != jobs) Die(absl::StrCat(running.jobs_size(), " of ", jobs, " jobs RUNNING"));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("coordinator_bench [--mode=all|submit|heartbeat] [--dir=DIR]");
  absl::ParseCommandLine(argc, argv);
  StartWatchdog(absl::GetFlag(FLAGS_timeout_s));
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "all" && mode != "submit" && mode != "heartbeat") Die("--mode: all | submit | heartbeat");
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) Die("cannot create " + dir + ": " + ec.message());
  std::string bin;
  if (mode != "submit") bin = FindCoordinator(argv[0]);  // fail before spending time on the rest

  if (mode != "heartbeat") SubmitBench(dir);
  if (mode != "submit") HeartbeatBench(dir, bin);
  if (!absl::GetFlag(FLAGS_keep)) std::filesystem::remove_all(dir, ec);
  return 0;
}
