// Sweeps (DESIGN.md §5.1, issue 10): JobService's SubmitSweep, GetSweep,
// ListSweeps and CancelSweep. A sweep is a list of points, each a whole job
// spec the client expanded from a base spec and axes; the manager stores it,
// then runs its points as ordinary jobs of the sweep's owner through the
// JobHandler, at most `concurrency` at a time, in index order. A sweep is
// accepted whole or not at all: SubmitSweep refuses (INVALID_ARGUMENT, naming
// the field) one without axes, a point without a spec or without one value
// per axis in axis order, text over the limits (README "Limits"), and any
// point SubmitJob would refuse.
//
// Durability: a sweep is one synced record (keys.h). A point's job is
// submitted with the request id "sweep:<sweep id>:<index>" before the record
// names it, so after a crash in between the next Tick's submit returns the
// same job (SubmitJob is idempotent per request id): no point runs twice.
//
// Thread-safety: every public method may be called from any thread. The
// manager's lock is held while it calls the JobHandler (never the reverse).
#ifndef RECA_COORDINATOR_SWEEPS_H_
#define RECA_COORDINATOR_SWEEPS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/kv_store.h"
#include "coordinator/handlers.h"
#include "reca/v1/job.pb.h"

namespace reca::coordinator {

struct SweepOptions {
  int max_points = 1000;
  int max_concurrency = 256;
  std::string default_owner = "local";  // CoordinatorOptions::default_owner
};

class SweepManager final : public SweepHandler {
 public:
  // Loads every stored sweep.
  static absl::StatusOr<std::unique_ptr<SweepManager>> Create(
      KvStore& store, const Clock& clock, JobHandler& jobs,
      SweepOptions options = {});

  absl::StatusOr<v1::SubmitSweepResponse> HandleSubmitSweep(
      const Caller& caller, const v1::SubmitSweepRequest& request) override;
  absl::StatusOr<v1::GetSweepResponse> HandleGetSweep(
      const Caller& caller, const v1::GetSweepRequest& request) override;
  absl::StatusOr<v1::ListSweepsResponse> HandleListSweeps(
      const Caller& caller, const v1::ListSweepsRequest& request) override;
  absl::StatusOr<v1::CancelSweepResponse> HandleCancelSweep(
      const Caller& caller, const v1::CancelSweepRequest& request) override;

  // Records the points' jobs' states, starts points while fewer than the
  // sweep's concurrency run, and ends sweeps whose points have all ended.
  // main() calls it after Coordinator::Tick; tests call it directly.
  absl::Status Tick();

 private:
  SweepManager(KvStore& store, const Clock& clock, JobHandler& jobs,
               SweepOptions options)
      : store_(store), clock_(clock), jobs_(jobs), options_(options) {}
  absl::Status Load();
  absl::StatusOr<v1::Sweep*> FindVisible(const Caller& caller,
                                         const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One sweep's Tick; writes it when anything changed.
  absl::Status Advance(v1::Sweep& sweep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Store(const v1::Sweep& sweep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowMicros() const { return absl::ToUnixMicros(clock_.Now()); }

  KvStore& store_;
  const Clock& clock_;
  JobHandler& jobs_;
  const SweepOptions options_;

  absl::Mutex mu_;
  std::map<std::string, v1::Sweep> sweeps_ ABSL_GUARDED_BY(mu_);  // by id
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_SWEEPS_H_
