// Data parallelism for one rank: c10d TCPStore rendezvous and a process
// group (Gloo on CPU; NCCL for CUDA devices in the CUDA build), gradient
// all-reduce in buckets launched from autograd hooks while the step's last
// backward pass is still running (as DDP's reducer does), and small
// all-reduces for agreement between ranks (stop requests, losses).
//
// A dead peer surfaces as an error from the next collective (Gloo sees the
// closed connection at once) or, for a hung one, after `timeout_s`, never
// after c10d's 30-minute default. With world == 1 nothing is created and
// every call is local.
#ifndef RECA_DIST_H_
#define RECA_DIST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/types.h>

#include "reca/status.h"

namespace reca {

struct DistOptions {
  int rank = 0, world = 1;
  std::string master_addr = "127.0.0.1";  // rank 0 hosts the TCPStore here
  int master_port = 29500;
  // Address this rank's Gloo transport binds to; empty = master_addr when it
  // is a loopback address, else this host's name.
  std::string local_addr;
  // "auto": NCCL for CUDA devices (in the CUDA build), Gloo otherwise. An
  // explicit backend also creates the process group when world == 1 (a
  // one-GPU smoke test of NCCL).
  std::string backend = "auto";
  double timeout_s = 60;  // rendezvous and every collective
  int64_t bucket_bytes = 25ll << 20;
};

struct AllReduceTiming {
  double exposed_seconds = 0;  // waited after the backward pass
  int64_t buckets = 0;
};

class DataParallel {
 public:
  static StatusOr<std::unique_ptr<DataParallel>> Init(const DistOptions& options,
                                                      const c10::Device& device);
  ~DataParallel();

  int rank() const { return options_.rank; }
  int world() const { return options_.world; }
  std::string backend() const;

  // The parameters whose gradients are averaged (fixed order on all ranks);
  // installs the hooks. Then copies rank 0's values to every rank.
  Status Attach(const std::vector<torch::Tensor>& params);
  // The next backward pass is the step's last: gradients completed during it
  // start their buckets' all-reduces.
  void Arm();
  // Launches what the hooks did not, waits for every bucket and writes the
  // mean gradient back into each parameter's .grad.
  StatusOr<AllReduceTiming> Finish();
  // Element-wise sum over ranks.
  StatusOr<std::vector<double>> AllReduceSum(const std::vector<double>& values);
  // Waits for every rank, up to `timeout_s` (<= 0: the collective timeout):
  // a long one where ranks wait while rank 0 writes a checkpoint.
  Status Barrier(double timeout_s = 0);

  struct Impl;

 private:
  explicit DataParallel(DistOptions options);
  DistOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reca

#endif  // RECA_DIST_H_
