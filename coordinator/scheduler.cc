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

ScheduleResult Schedule(const std::vector<GangRequest>& queue,
                        std::vector<WorkerCapacity> fleet) {
  ScheduleResult result;
  // Deterministic: by id, then (below) the most free slots first.
  std::sort(fleet.begin(), fleet.end(),
            [](const WorkerCapacity& a, const WorkerCapacity& b) {
              return a.worker_id < b.worker_id;
            });
  std::string
      blocked_by[2];  // per slot kind: the first job that must wait for slots
  for (const GangRequest& job : queue) {
    const bool gpu = job.gpu;
    int total = 0, free = 0, workers = 0;
    for (const WorkerCapacity& w : fleet) {
      total += Total(w, gpu);
      free += std::max(0, gpu ? w.free_gpu : w.free_cpu);
      workers += Total(w, gpu) > 0;
    }
    if (job.ranks > total) {
      result.waiting.push_back(
          {job.job_id, absl::StrCat("needs ", job.ranks, " ", Kind(gpu),
                                    " slots; the fleet has ", total, " (",
                                    workers, " worker", workers == 1 ? "" : "s",
                                    " with ", Kind(gpu), " slots)")});
      continue;
    }
    if (!blocked_by[gpu].empty()) {
      result.waiting.push_back(
          {job.job_id,
           absl::StrCat("behind ", blocked_by[gpu], " in the queue")});
      continue;
    }
    if (job.ranks > free) {
      result.waiting.push_back(
          {job.job_id,
           absl::StrCat("waiting for ", job.ranks, " free ", Kind(gpu),
                        " slots (", free, " free now)")});
      blocked_by[gpu] = job.job_id;
      continue;
    }
    std::vector<WorkerCapacity*> order;
    for (WorkerCapacity& w : fleet) {
      if (Free(w, gpu) > 0) order.push_back(&w);
    }
    std::stable_sort(order.begin(), order.end(),
                     [gpu](WorkerCapacity* a, WorkerCapacity* b) {
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
    result.placed.push_back(std::move(placed));
  }
  return result;
}

}  // namespace reca::coordinator
