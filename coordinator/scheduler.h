// Gang placement (DESIGN.md §5.2): a pure function from the queue and the
// fleet's free slots to placements, so every policy is unit-tested without a
// coordinator.
//
// Policy: jobs are taken by priority (higher first), then in submit order. A
// job is placed only when all its ranks fit at once (gang), packing ranks
// onto the workers with the most free slots first, and onto the workers it
// avoids last. A job that cannot fit now
// holds back the jobs behind it that need the same kind of slot (no
// backfill, so a big gang is never starved by small ones); a job that could
// never fit (more slots than the whole fleet has) does not, and stays queued
// with that reason.
#ifndef RECA_COORDINATOR_SCHEDULER_H_
#define RECA_COORDINATOR_SCHEDULER_H_

#include <optional>
#include <string>
#include <vector>

namespace reca::coordinator {

struct WorkerCapacity {
  std::string worker_id;
  int total_cpu = 0, total_gpu = 0;
  int free_cpu = 0, free_gpu = 0;
};

struct GangRequest {
  std::string job_id;
  int ranks = 1;
  bool gpu = false;
  int priority = 0;
  // Workers this job's earlier attempts failed on repeatedly: used only for
  // the ranks the rest of the fleet's free slots cannot take.
  std::vector<std::string> avoid = {};
};

// Per slot kind (index 0 = CPU, 1 = GPU), as a pass leaves the fleet: what a
// job submitted afterwards meets, until capacity changes (see Classify).
struct KindSummary {
  int total = 0;        // slots of the kind in the fleet
  int workers = 0;      // workers with slots of the kind
  int free = 0;         // free after the pass's placements
  std::string blocker;  // the first job waiting for slots; empty = none
  int blocker_priority = 0;
};

struct ScheduleResult {
  struct Placed {
    std::string job_id;
    std::vector<std::string> worker_per_rank;  // index = rank
  };
  struct Waiting {
    std::string job_id;
    std::string reason;
  };
  std::vector<Placed> placed;
  std::vector<Waiting> waiting;
  KindSummary kinds[2];
};

// `queue` must already be in scheduling order (priority, then submit order).
// `fleet` is the live workers' capacity; placed ranks are taken from it.
ScheduleResult Schedule(const std::vector<GangRequest>& queue,
                        std::vector<WorkerCapacity> fleet);

// Where a job submitted after a pass stands, without a new pass, given the
// pass's summary of its kind (which this updates when the job becomes the
// blocker): the reason it waits, or std::nullopt when only a full pass can
// tell (it may fit now, or its priority puts it ahead of the blocker). Valid
// while the fleet's capacity is what the pass saw.
std::optional<std::string> Classify(const GangRequest& job, KindSummary& kind);
}  // namespace reca::coordinator

#endif  // RECA_COORDINATOR_SCHEDULER_H_
