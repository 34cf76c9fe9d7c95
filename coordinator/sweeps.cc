#include "coordinator/sweeps.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "coordinator/keys.h"
#include "coordinator/validation.h"
#include "reca/job_spec_fields.h"
#include "reca/status.h"

namespace reca::coordinator {
namespace {

// Limits of what a sweep record keeps besides its points' specs (README
// "Sweeps"). Axes name spec fields ("data.sources[0].repeat"): 64 of them
// is far past any grid's product staying under max_points, and a field path
// is short. An axis value or a point's value is a YAML scalar as text, at
// most a path. The report's metrics and rules are a screenful.
constexpr int kMaxAxes = 64;
constexpr size_t kMaxFieldBytes = 256;
constexpr size_t kMaxValueBytes = spec_fields::kMaxPathBytes;
constexpr int kMaxMetrics = 64;
constexpr int kMaxRules = 64;

absl::Status CheckCount(int n, int limit, absl::string_view field) {
  if (n <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", n, " items, more than the limit of ", limit));
}

// The sweep's own fields (its points' specs are checked as jobs): axes as
// the points' values name them, and bounded text everywhere.
absl::Status CheckSweepShape(const v1::Sweep& sweep, int max_points) {
  // recactl names point i's job "<sweep name>-<i>", which must fit spec.name.
  constexpr size_t kMaxSweepNameBytes = kMaxIdBytes - 8;
  RECA_RETURN_IF_ERROR(
      CheckLength(sweep.name(), "sweep.name", kMaxSweepNameBytes));
  if (sweep.axes().empty()) {
    return absl::InvalidArgumentError(
        "sweep.axes: required (the fields the points vary, at least one)");
  }
  RECA_RETURN_IF_ERROR(CheckCount(sweep.axes_size(), kMaxAxes, "sweep.axes"));
  for (int a = 0; a < sweep.axes_size(); ++a) {
    const v1::SweepAxis& axis = sweep.axes(a);
    const std::string where = absl::StrCat("sweep.axes[", a, "]");
    if (axis.field().empty())
      return absl::InvalidArgumentError(where + ".field: required");
    RECA_RETURN_IF_ERROR(
        CheckLength(axis.field(), where + ".field", kMaxFieldBytes));
    RECA_RETURN_IF_ERROR(
        CheckCount(axis.values_size(), max_points, where + ".values"));
    for (int v = 0; v < axis.values_size(); ++v) {
      RECA_RETURN_IF_ERROR(CheckLength(
          axis.values(v), absl::StrCat(where, ".values[", v, "]"), kMaxValueBytes));
    }
  }
  RECA_RETURN_IF_ERROR(
      CheckCount(sweep.metrics_size(), kMaxMetrics, "sweep.metrics"));
  for (int m = 0; m < sweep.metrics_size(); ++m) {
    RECA_RETURN_IF_ERROR(CheckLength(sweep.metrics(m),
                                     absl::StrCat("sweep.metrics[", m, "]"),
                                     kMaxMetricNameBytes));
  }
  RECA_RETURN_IF_ERROR(CheckCount(sweep.rules_size(), kMaxRules, "sweep.rules"));
  for (int r = 0; r < sweep.rules_size(); ++r) {
    RECA_RETURN_IF_ERROR(CheckLength(sweep.rules(r).metric(),
                                     absl::StrCat("sweep.rules[", r, "].metric"),
                                     kMaxMetricNameBytes));
  }
  return absl::OkStatus();
}

// A point has ended: its job ended, it could not be submitted, or the sweep
// was cancelled before it started.
bool PointEnded(const v1::SweepPoint& p) {
  return IsTerminal(p.state()) || !p.error().empty();
}

// "points[3] (optimizer.lr=0.1, model.family=flow)": how errors name a point.
std::string PointName(const v1::SweepPoint& p) {
  std::vector<std::string> values;
  for (const v1::SweepValue& v : p.values())
    values.push_back(absl::StrCat(v.field(), "=", v.value()));
  return absl::StrCat("points[", p.index(), "]",
                      values.empty() ? "" : " (" + absl::StrJoin(values, ", ") + ")");
}

// The caller the sweep's points are submitted as.
Caller PointCaller(const v1::Sweep& sweep) {
  return sweep.owner_admin() ? Caller{"", v1::ROLE_ADMIN}
                             : Caller{sweep.owner(), v1::ROLE_USER};
}

v1::SubmitJobRequest PointRequest(const v1::Sweep& sweep,
                                  const v1::SweepPoint& point) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = point.spec();
  *request.mutable_resources() = sweep.resources();
  request.set_priority(sweep.priority());
  request.set_owner(sweep.owner());
  return request;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SweepManager>> SweepManager::Create(
    KvStore& store, const Clock& clock, JobHandler& jobs,
    SweepOptions options) {
  std::unique_ptr<SweepManager> manager(
      new SweepManager(store, clock, jobs, std::move(options)));
  RECA_RETURN_IF_ERROR(manager->Load());
  return manager;
}

absl::Status SweepManager::Load() {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(std::optional<std::string> seq,
                        store_.Get(keys::kNextSweepSeq));
  if (seq && (!absl::SimpleAtoi(*seq, &next_seq_) || next_seq_ < 1)) {
    return absl::DataLossError(
        absl::StrCat("coordinator store: ", keys::kNextSweepSeq,
                     ": not a counter: '", *seq, "'"));
  }
  RECA_ASSIGN_OR_RETURN(std::vector<KeyValue> stored,
                        store_.Scan(keys::kSweepPrefix));
  for (const auto& [key, value] : stored) {
    v1::Sweep sweep;
    if (!sweep.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("coordinator store: ", key, ": not a Sweep"));
    }
    sweeps_[sweep.id()] = std::move(sweep);
  }
  return absl::OkStatus();
}

absl::Status SweepManager::Store(const v1::Sweep& sweep) {
  WriteBatch batch;
  batch.Put(keys::Sweep(sweep.id()), sweep.SerializeAsString());
  return store_.Write(batch);
}

absl::StatusOr<v1::Sweep*> SweepManager::FindVisible(const Caller& caller,
                                                     const std::string& id) {
  RECA_RETURN_IF_ERROR(CheckLength(id, "sweep_id", kMaxIdBytes));
  auto it = sweeps_.find(id);
  if (it == sweeps_.end())
    return absl::NotFoundError(absl::StrCat("sweep_id: no sweep ", id));
  if (!caller.Owns(it->second.owner())) {
    return absl::PermissionDeniedError(
        absl::StrCat("sweep ", id, " is another user's"));
  }
  return &it->second;
}

absl::StatusOr<v1::SubmitSweepResponse> SweepManager::HandleSubmitSweep(
    const Caller& caller, const v1::SubmitSweepRequest& request) {
  RECA_RETURN_IF_ERROR(CheckNoUnknownFields(request, "request"));
  RECA_RETURN_IF_ERROR(
      CheckLength(request.request_id(), "request_id", kMaxIdBytes));
  RECA_RETURN_IF_ERROR(CheckLength(request.owner(), "owner", kMaxIdBytes));
  if (!caller.admin() && !request.owner().empty() &&
      request.owner() != caller.name) {
    return absl::PermissionDeniedError(absl::StrCat(
        "owner: ", request.owner(), ": a user submits only as itself (",
        caller.name, ")"));
  }
  if (!request.has_sweep())
    return absl::InvalidArgumentError("sweep: required");
  const v1::Sweep& given = request.sweep();
  if (!given.id().empty() || given.state() != v1::SWEEP_STATE_UNSPECIFIED ||
      !given.owner().empty() || given.submit_unix_micros() != 0 ||
      given.end_unix_micros() != 0 || !given.request_id().empty()) {
    return absl::InvalidArgumentError(
        "sweep: id, owner, state, times and request_id are the "
        "coordinator's to set");
  }
  if (given.points().empty())
    return absl::InvalidArgumentError("sweep.points: no points");
  if (given.points_size() > options_.max_points) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep.points: ", given.points_size(),
                     " points, more than the ", options_.max_points,
                     " allowed"));
  }
  if (given.concurrency() < 0 ||
      given.concurrency() > options_.max_concurrency) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep.concurrency: must be in [1, ",
                     options_.max_concurrency, "] (got ", given.concurrency(),
                     ")"));
  }
  RECA_RETURN_IF_ERROR(CheckSweepShape(given, options_.max_points));

  v1::Sweep sweep = given;
  sweep.set_owner(!request.owner().empty() ? request.owner()
                  : !caller.name.empty()   ? caller.name
                                           : options_.default_owner);
  sweep.set_owner_admin(caller.admin());
  if (sweep.concurrency() == 0) sweep.set_concurrency(1);
  if (sweep.name().empty()) sweep.set_name("sweep");
  // Every point is checked as SubmitJob checks a job, before anything is
  // stored: a sweep is accepted whole or not at all.
  for (int i = 0; i < sweep.points_size(); ++i) {
    v1::SweepPoint& point = *sweep.mutable_points(i);
    point.set_index(i);
    // Its values, one per axis in axis order (PointName quotes them).
    if (point.values_size() != sweep.axes_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sweep.points[", i, "].values: ", point.values_size(), " for ",
          sweep.axes_size(), " axes (one per axis, in axis order)"));
    }
    for (int v = 0; v < point.values_size(); ++v) {
      const std::string where =
          absl::StrCat("sweep.points[", i, "].values[", v, "]");
      RECA_RETURN_IF_ERROR(CheckLength(point.values(v).value(),
                                       where + ".value", kMaxValueBytes));
      if (point.values(v).field() != sweep.axes(v).field()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".field: must be sweep.axes[", v,
                         "].field, ", sweep.axes(v).field()));
      }
    }
    if (!point.job_id().empty() ||
        point.state() != v1::JOB_STATE_UNSPECIFIED || !point.error().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sweep.", PointName(point),
          ": job_id, state and error are the coordinator's to set"));
    }
    // Without a spec the point would run every default, not the base.
    if (!point.has_spec()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sweep.points[", i,
          "].spec: required (the base spec with the point's values)"));
    }
    v1::SubmitJobRequest check = PointRequest(sweep, point);
    check.set_validate_only(true);
    auto checked = jobs_.HandleSubmitJob(PointCaller(sweep), check);
    if (!checked.ok()) {
      return absl::Status(checked.status().code(),
                          absl::StrCat("sweep.", PointName(point), ": ",
                                       checked.status().message()));
    }
  }
  const std::string fingerprint = RequestFingerprint(request);

  absl::MutexLock lock(&mu_);
  v1::SubmitSweepResponse response;
  if (!request.request_id().empty()) {
    RECA_ASSIGN_OR_RETURN(
        std::optional<std::string> seen,
        store_.Get(keys::SweepIdempotency(request.request_id())));
    if (seen) {
      const size_t sep = seen->find('\n');
      const std::string id = seen->substr(0, sep);
      if (sep == std::string::npos || seen->substr(sep + 1) != fingerprint) {
        return absl::AlreadyExistsError(
            absl::StrCat("request_id ", request.request_id(),
                         " was used for sweep ", id, " with a different request"));
      }
      auto it = sweeps_.find(id);
      if (it == sweeps_.end()) {
        return absl::InternalError(
            absl::StrCat("request_id maps to missing sweep ", id));
      }
      *response.mutable_sweep() = it->second;
      response.set_created(false);
      return response;
    }
  }
  sweep.set_id(absl::StrFormat("sweep-%06d", next_seq_));
  sweep.set_state(v1::SWEEP_RUNNING);
  sweep.set_submit_unix_micros(NowMicros());
  sweep.set_request_id(request.request_id());
  WriteBatch batch;
  batch.Put(keys::kNextSweepSeq, std::to_string(next_seq_ + 1));
  batch.Put(keys::Sweep(sweep.id()), sweep.SerializeAsString());
  if (!request.request_id().empty()) {
    batch.Put(keys::SweepIdempotency(request.request_id()),
              sweep.id() + "\n" + fingerprint);
  }
  RECA_RETURN_IF_ERROR(store_.Write(batch));
  ++next_seq_;
  v1::Sweep& stored = sweeps_[sweep.id()] = std::move(sweep);
  // The first points start now; should that fail, the next Tick retries.
  (void)Advance(stored);
  *response.mutable_sweep() = stored;
  response.set_created(true);
  return response;
}

absl::StatusOr<v1::GetSweepResponse> SweepManager::HandleGetSweep(
    const Caller& caller, const v1::GetSweepRequest& request) {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(v1::Sweep * sweep, FindVisible(caller, request.sweep_id()));
  v1::GetSweepResponse response;
  *response.mutable_sweep() = *sweep;
  return response;
}

absl::StatusOr<v1::ListSweepsResponse> SweepManager::HandleListSweeps(
    const Caller& caller, const v1::ListSweepsRequest& request) {
  RECA_RETURN_IF_ERROR(CheckLength(request.owner(), "owner", kMaxIdBytes));
  absl::MutexLock lock(&mu_);
  v1::ListSweepsResponse response;
  for (const auto& [id, sweep] : sweeps_) {
    if (!caller.Owns(sweep.owner())) continue;
    if (!request.owner().empty() && sweep.owner() != request.owner()) continue;
    v1::Sweep& listed = *response.add_sweeps() = sweep;
    for (v1::SweepPoint& point : *listed.mutable_points()) point.clear_spec();
  }
  return response;
}

absl::StatusOr<v1::CancelSweepResponse> SweepManager::HandleCancelSweep(
    const Caller& caller, const v1::CancelSweepRequest& request) {
  absl::MutexLock lock(&mu_);
  RECA_ASSIGN_OR_RETURN(v1::Sweep * sweep, FindVisible(caller, request.sweep_id()));
  v1::CancelSweepResponse response;
  if (sweep->state() != v1::SWEEP_RUNNING) {
    *response.mutable_sweep() = *sweep;  // already ended
    return response;
  }
  v1::Sweep updated = *sweep;
  updated.set_state(v1::SWEEP_CANCELLED);
  for (v1::SweepPoint& point : *updated.mutable_points()) {
    if (point.job_id().empty() && point.error().empty())
      point.set_state(v1::CANCELLED);  // never started
  }
  RECA_RETURN_IF_ERROR(Store(updated));
  *sweep = std::move(updated);
  // The running points' jobs: each ends as CancelJob ends a job; the next
  // Ticks record their states.
  for (const v1::SweepPoint& point : sweep->points()) {
    if (point.job_id().empty() || IsTerminal(point.state())) continue;
    v1::CancelJobRequest cancel;
    cancel.set_job_id(point.job_id());
    (void)jobs_.HandleCancelJob(PointCaller(*sweep), cancel);
  }
  (void)Advance(*sweep);
  *response.mutable_sweep() = *sweep;
  return response;
}

absl::Status SweepManager::Tick() {
  absl::MutexLock lock(&mu_);
  absl::Status status;
  for (auto& [id, sweep] : sweeps_) {
    if (sweep.end_unix_micros() != 0) continue;
    status.Update(Advance(sweep));
  }
  return status;
}

absl::Status SweepManager::Advance(v1::Sweep& sweep) {
  v1::Sweep updated = sweep;
  const Caller caller = PointCaller(updated);
  int running = 0;
  for (v1::SweepPoint& point : *updated.mutable_points()) {
    if (point.job_id().empty() || PointEnded(point)) continue;
    v1::GetJobRequest get;
    get.set_job_id(point.job_id());
    auto job = jobs_.HandleGetJob(caller, get);
    if (job.ok()) {
      point.set_state(job->job().state());
    } else if (absl::IsNotFound(job.status())) {
      point.set_state(v1::FAILED);
      point.set_error(absl::StrCat("job ", point.job_id(), " is gone"));
    } else {
      return job.status();
    }
    if (!PointEnded(point)) ++running;
  }
  absl::Status status;
  if (updated.state() == v1::SWEEP_RUNNING) {
    for (v1::SweepPoint& point : *updated.mutable_points()) {
      if (running >= updated.concurrency()) break;
      if (!point.job_id().empty() || PointEnded(point)) continue;
      v1::SubmitJobRequest submit = PointRequest(updated, point);
      submit.set_request_id(
          absl::StrCat("sweep:", updated.id(), ":", point.index()));
      auto submitted = jobs_.HandleSubmitJob(caller, submit);
      if (submitted.ok()) {
        point.set_job_id(submitted->job().id());
        point.set_state(submitted->job().state());
        if (!PointEnded(point)) ++running;
      } else if (absl::IsResourceExhausted(submitted.status()) ||
                 absl::IsUnavailable(submitted.status())) {
        status = submitted.status();  // the owner's job limit, a disk error:
        break;                        // the next Tick tries again
      } else {
        point.set_state(v1::FAILED);
        point.set_error(std::string(submitted.status().message()));
      }
    }
  }
  const bool all_ended =
      std::all_of(updated.points().begin(), updated.points().end(),
                  [](const v1::SweepPoint& p) { return PointEnded(p); });
  if (all_ended) {
    if (updated.state() == v1::SWEEP_RUNNING) {
      const bool all_succeeded =
          std::all_of(updated.points().begin(), updated.points().end(),
                      [](const v1::SweepPoint& p) {
                        return p.state() == v1::SUCCEEDED && p.error().empty();
                      });
      updated.set_state(all_succeeded ? v1::SWEEP_SUCCEEDED : v1::SWEEP_FAILED);
    }
    updated.set_end_unix_micros(NowMicros());
  }
  if (updated.SerializeAsString() != sweep.SerializeAsString()) {
    RECA_RETURN_IF_ERROR(Store(updated));
    sweep = std::move(updated);
  }
  return status;
}

}  // namespace reca::coordinator
