#include "coordinator/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace reca::coordinator {
namespace {

int& Free(WorkerCapacity& w, bool gpu) { return gpu ? w.free_gpu : w.free_cpu; }
int Total(const WorkerCapacity& w, bool gpu) {
  return gpu ? w.total_gpu : w.total_cpu;
}
const char* Kind(bool gpu) { return gpu ? "gpu" : "cpu"; }

}  // namespace

std::optional<std::string> Classify(const GangRequest& job, KindSummary& kind) {
  const char* name = Kind(job.gpu);
  if (job.ranks > kind.total) {
    return absl::StrCat("needs ", job.ranks, " ", name, " slots; the fleet has ",
                        kind.total, " (", kind.workers, " worker",
                        kind.workers == 1 ? "" : "s", " with ", name, " slots)");
  }
  if (!kind.blocker.empty()) {
    if (job.priority > kind.blocker_priority) return std::nullopt;  // jumps ahead
    return absl::StrCat("behind ", kind.blocker, " in the queue");
  }
  if (job.ranks > kind.free) {
    kind.blocker = job.job_id;
    kind.blocker_priority = job.priority;
    return absl::StrCat("waiting for ", job.ranks, " free ", name, " slots (",
                        kind.free, " free now)");
  }
  return std::nullopt;  // fits now
}

ScheduleResult Schedule(const std::vector<GangRequest>& queue,
                        std::vector<WorkerCapacity> fleet) {
  ScheduleResult result;
  // Deterministic: by id, then (below) the most free slots first.
  std::sort(fleet.begin(), fleet.end(),
            [](const WorkerCapacity& a, const WorkerCapacity& b) {
              return a.worker_id < b.worker_id;
            });
  for (const bool gpu : {false, true}) {
    KindSummary& k = result.kinds[gpu];
    for (const WorkerCapacity& w : fleet) {
      k.total += Total(w, gpu);
      k.free += std::max(0, gpu ? w.free_gpu : w.free_cpu);
      k.workers += Total(w, gpu) > 0;
    }
  }
  for (const GangRequest& job : queue) {
    KindSummary& kind = result.kinds[job.gpu];
    if (std::optional<std::string> reason = Classify(job, kind)) {
      result.waiting.push_back({job.job_id, std::move(*reason)});
      continue;
    }
    if (!kind.blocker.empty()) {
      // Classify lets a higher-priority job past the blocker, but the queue
      // is in priority order here, so that never happens within a pass.
      result.waiting.push_back({job.job_id, absl::StrCat("behind ", kind.blocker, " in the queue")});
      continue;
    }
    const bool gpu = job.gpu;
    std::vector<WorkerCapacity*> order;
    for (WorkerCapacity& w : fleet) {
      if (Free(w, gpu) > 0) order.push_back(&w);
    }
    auto avoided = [&job](const WorkerCapacity* w) {
      return std::find(job.avoid.begin(), job.avoid.end(), w->worker_id) != job.avoid.end();
    };
    std::stable_sort(order.begin(), order.end(),
                     [gpu, &avoided](WorkerCapacity* a, WorkerCapacity* b) {
                       if (avoided(a) != avoided(b)) return !avoided(a);
                       return Free(*a, gpu) > Free(*b, gpu);
                     });
    ScheduleResult::Placed placed{job.job_id, {}};
    for (WorkerCapacity* w : order) {
      while (Free(*w, gpu) > 0 &&
             static_cast<int>(placed.worker_per_rank.size()) < job.ranks) {
        placed.worker_per_rank.push_back(w->worker_id);
        --Free(*w, gpu);
      }
    }
    kind.free -= job.ranks;
    result.placed.push_back(std::move(placed));
  }
  return result;
}

}  // namespace reca::coordinator
