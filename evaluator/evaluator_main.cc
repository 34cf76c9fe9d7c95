// reca-evaluator: the evaluator daemon (DESIGN.md §5.4). Claims committed
// checkpoints from the coordinator, scores each with reca-eval, reports the
// scores. SIGTERM/SIGINT: stops a running reca-eval without reporting (its
// claim expires and the task is handed out again), exits 0. Bad flags: exit 2.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/daemon_main.h"
#include "common/grpc_client.h"
#include "common/process.h"
#include "common/service_metrics.h"
#include "evaluator/evaluator_agent.h"
#include "evaluator/grpc_client.h"
#include "evaluator/prometheus_export.h"
#include "reca/eval/geneval_rules.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070",
          "the coordinator's address, host:port");
ABSL_FLAG(std::string, evaluator_id, "",
          "this evaluator's stable name (default: the host name + \"-eval\")");
ABSL_FLAG(std::string, eval_binary, "",
          "the reca-eval binary (default: reca-eval next to this binary)");
ABSL_FLAG(int32_t, threads, 1, "reca-eval's threads (--threads)");
ABSL_FLAG(int32_t, images_per_prompt, 0,
          "reca-eval --images_per_prompt (0 = reca-eval's default)");
ABSL_FLAG(int32_t, prompts_per_tag, 0,
          "reca-eval --prompts_per_tag (0 = reca-eval's default)");
ABSL_FLAG(int32_t, edit_pairs_per_category, 0,
          "reca-eval --edit_pairs_per_category (0 = reca-eval's default)");
ABSL_FLAG(std::optional<double>, geneval_threshold, std::nullopt,
          "reca-eval --geneval_threshold (unset = reca-eval's default, "
          "upstream's 0.3)");
ABSL_FLAG(std::optional<double>, geneval_counting_threshold, std::nullopt,
          "reca-eval --geneval_counting_threshold (unset = 0.9)");
ABSL_FLAG(std::optional<int32_t>, geneval_max_objects, std::nullopt,
          "reca-eval --geneval_max_objects (unset = 16)");
ABSL_FLAG(std::optional<double>, geneval_max_overlap, std::nullopt,
          "reca-eval --geneval_max_overlap (unset = 1.0, off)");
ABSL_FLAG(std::optional<double>, geneval_position_threshold, std::nullopt,
          "reca-eval --geneval_position_threshold (unset = 0.1)");
ABSL_FLAG(double, poll_interval_s, 1,
          "seconds between claims while idle and between polls of reca-eval");
ABSL_FLAG(double, stop_grace_s, 10,
          "seconds reca-eval gets after SIGTERM before SIGKILL");
ABSL_FLAG(double, rpc_deadline_s, 10,
          "deadline of each call to the coordinator, seconds");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9472",
          "Prometheus /metrics address, host:port (empty = off)");

namespace {

constexpr int kUsageError = 2;
const char* const kFlags[] = {
    "coordinator",       "evaluator_id",    "eval_binary",     "threads",
    "images_per_prompt", "prompts_per_tag", "poll_interval_s", "stop_grace_s",
    "rpc_deadline_s",    "metrics_listen",  "edit_pairs_per_category"};
// reca-eval's GenEval rule flags, passed on when set.
const char* const kGenEvalFlags[] = {
    "geneval_threshold", "geneval_counting_threshold", "geneval_max_objects",
    "geneval_max_overlap", "geneval_position_threshold"};

// Seconds from `flag`, or false when not a finite number >= `min`
// (> 0 when `positive`).
bool Seconds(const char* flag, double s, bool positive, absl::Duration* out,
             std::string* error) {
  if (!std::isfinite(s) || s < 0 || (positive && s == 0)) {
    *error = std::string("--") + flag + ": must be a number " +
             (positive ? "> 0" : ">= 0");
    return false;
  }
  *out = absl::Seconds(s);
  return true;
}

// kFlags, kGenEvalFlags and the credential flags (common/grpc_client.h).
std::vector<std::string> DaemonFlags() {
  std::vector<std::string> flags(std::begin(kFlags), std::end(kFlags));
  flags.insert(flags.end(), std::begin(kGenEvalFlags), std::end(kGenEvalFlags));
  for (const std::string& f : reca::ClientCredentialFlags()) flags.push_back(f);
  return flags;
}

// The options, or a usage error naming the flag.
bool BuildOptions(reca::EvaluatorOptions* o, absl::Duration* rpc_deadline,
                  std::string* error) {
  auto fail = [&](const std::string& flag, const std::string& what) {
    *error = "--" + flag + ": " + what;
    return false;
  };
  if (!reca::CheckHostPort("coordinator", absl::GetFlag(FLAGS_coordinator),
                           error)) {
    return false;
  }
  o->evaluator_id = absl::GetFlag(FLAGS_evaluator_id);
  if (o->evaluator_id.empty()) {
    const std::string host = reca::HostName();
    if (host.empty())
      return fail("evaluator_id", "empty, and the host name is unknown");
    o->evaluator_id = host + "-eval";
  }
  o->eval_binary = absl::GetFlag(FLAGS_eval_binary);
  if (o->eval_binary.empty()) o->eval_binary = reca::SiblingBinary("reca-eval");
  if (::access(o->eval_binary.c_str(), X_OK) != 0) {
    return fail("eval_binary",
                "'" + o->eval_binary + "' is not an executable file");
  }
  o->threads = absl::GetFlag(FLAGS_threads);
  if (o->threads < 1) return fail("threads", "must be >= 1");
  o->images_per_prompt = absl::GetFlag(FLAGS_images_per_prompt);
  if (o->images_per_prompt < 0)
    return fail("images_per_prompt", "must be >= 0");
  o->prompts_per_tag = absl::GetFlag(FLAGS_prompts_per_tag);
  if (o->prompts_per_tag < 0) return fail("prompts_per_tag", "must be >= 0");
  o->edit_pairs_per_category = absl::GetFlag(FLAGS_edit_pairs_per_category);
  if (o->edit_pairs_per_category < 0)
    return fail("edit_pairs_per_category", "must be >= 0");
  // Checked here as reca-eval would check them (the message names the flag,
  // which has the same name here), so that a bad value stops the evaluator
  // rather than failing every task.
  reca::GenEvalFlags& g = o->geneval;
  g.threshold = absl::GetFlag(FLAGS_geneval_threshold);
  g.counting_threshold = absl::GetFlag(FLAGS_geneval_counting_threshold);
  g.max_objects = absl::GetFlag(FLAGS_geneval_max_objects);
  g.max_overlap = absl::GetFlag(FLAGS_geneval_max_overlap);
  g.position_threshold = absl::GetFlag(FLAGS_geneval_position_threshold);
  reca::GenEvalOptions rules;
  rules.threshold = g.threshold.value_or(rules.threshold);
  rules.counting_threshold =
      g.counting_threshold.value_or(rules.counting_threshold);
  rules.max_objects = g.max_objects.value_or(rules.max_objects);
  rules.max_overlap = g.max_overlap.value_or(rules.max_overlap);
  rules.position_threshold =
      g.position_threshold.value_or(rules.position_threshold);
  if (const reca::Status s = reca::ValidateGenEvalOptions(rules); !s.ok()) {
    *error = std::string(s.message());
    return false;
  }
  return Seconds("poll_interval_s", absl::GetFlag(FLAGS_poll_interval_s),
                 /*positive=*/true, &o->poll_interval, error) &&
         Seconds("stop_grace_s", absl::GetFlag(FLAGS_stop_grace_s),
                 /*positive=*/false, &o->stop_grace, error) &&
         Seconds("rpc_deadline_s", absl::GetFlag(FLAGS_rpc_deadline_s),
                 /*positive=*/true, rpc_deadline, error);
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  reca::EvaluatorOptions options;
  absl::Duration rpc_deadline;
  if (!reca::ParseDaemonFlags(argc, argv, "reca-evaluator",
                              DaemonFlags(), &error) ||
      !BuildOptions(&options, &rpc_deadline, &error)) {
    std::cerr << "reca-evaluator: " << error << "\n";
    return kUsageError;
  }

  const std::atomic<bool>& stop = reca::InstallStopSignals();

  absl::StatusOr<reca::ClientCredentials> credentials =
      reca::ClientCredentialsFromFlags();
  if (!credentials.ok()) {
    std::cerr << "reca-evaluator: " << credentials.status().message() << "\n";
    return kUsageError;
  }
  auto client = reca::GrpcEvaluatorClient::Create(
      absl::GetFlag(FLAGS_coordinator), rpc_deadline, *credentials);
  reca::PosixProcessLauncher launcher;
  reca::EvaluatorAgent::Deps deps{*client, launcher, *reca::RealClock::Get(),
                                  nullptr, reca::LogLine};
  reca::EvaluatorAgent agent(std::move(deps), options);
  // Declared before the exposer, which holds it weakly: outlives it.
  auto collector =
      std::make_shared<reca::EvaluatorCollector>(agent, reca::RecaVersion());
  std::string metrics_url;
  auto exposer = reca::ServeMetricsFlag(absl::GetFlag(FLAGS_metrics_listen),
                                        collector, &metrics_url);
  if (!exposer.ok()) {
    std::cerr << "reca-evaluator: " << exposer.status().message() << "\n";
    return kUsageError;
  }
  if (!metrics_url.empty())
    reca::LogLine(absl::StrCat("evaluator ", options.evaluator_id,
                               ": metrics on ", metrics_url));
  agent.Run(stop);
  return 0;
}
