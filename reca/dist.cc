#include "reca/dist.h"

#include <unistd.h>

#include <chrono>
#include <mutex>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if __has_include(<gloo/config.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define RECA_HAVE_GLOO 1
#endif
#if defined(RECA_WITH_CUDA) && __has_include(<nccl.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define RECA_HAVE_NCCL 1
#endif

#include <torch/version.h>

#include "reca/torch_guard.h"

namespace reca {
namespace {
#if TORCH_VERSION_MAJOR >= 2
using ProcessGroupBase = c10d::Backend;  // 2.x: Gloo/NCCL are backends of a ProcessGroup
#else
using ProcessGroupBase = c10d::ProcessGroup;
#endif
}  // namespace

struct DataParallel::Impl {
  c10::Device device{c10::kCPU};
  std::chrono::milliseconds timeout{60000};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<ProcessGroupBase> pg;
  std::string backend;

  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;
    torch::Tensor buffer;  // flat float32, on the device
    size_t pending = 0;
    bool launched = false;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<torch::Tensor> params;
  std::vector<size_t> bucket_of, slot_of;
  std::vector<bool> copied;
  std::vector<Bucket> buckets;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // keeps the hooks alive
  std::mutex mu;
  bool armed = false;
  size_t next_launch = 0;

  void CopyIn(size_t p) {
    Bucket& b = buckets[bucket_of[p]];
    const torch::Tensor& g = params[p].grad();
    torch::Tensor slot = b.buffer.narrow(0, b.offsets[slot_of[p]], params[p].numel());
    if (g.defined()) {
      slot.copy_(g.reshape({-1}));
    } else {
      slot.zero_();
    }
    copied[p] = true;
  }
  void Launch(Bucket& b) {
    std::vector<at::Tensor> t{b.buffer};
    b.work = pg->allreduce(t);
    b.launched = true;
  }
  // Buckets go out in index order on every rank (collectives must match).
  void LaunchReady() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Launch(buckets[next_launch++]);
    }
  }
  void OnGradReady(size_t p) {
    std::lock_guard<std::mutex> lock(mu);
    if (!armed || copied[p]) return;
    CopyIn(p);
    --buckets[bucket_of[p]].pending;
    LaunchReady();
  }
};

namespace {

// Runs after AccumulateGrad has added this backward's gradient into .grad.
class GradReadyHook : public torch::autograd::FunctionPostHook {
 public:
  GradReadyHook(DataParallel::Impl* impl, size_t index) : impl_(impl), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    impl_->OnGradReady(index_);
    return outputs;
  }

 private:
  DataParallel::Impl* impl_;
  size_t index_;
};

// Collective failures mean a peer rank died, hung or is unreachable:
// UNAVAILABLE, so that a supervisor restarts the gang instead of failing the job.
Status PeerFailure(const Status& s) {
  if (s.ok()) return s;
  return UnavailableError(std::string(s.message()) + " (a peer rank failed or is unreachable)");
}

bool IsLoopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

DataParallel::DataParallel(DistOptions options) : options_(std::move(options)) {}
DataParallel::~DataParallel() = default;

std::string DataParallel::backend() const { return impl_ ? impl_->backend : "none"; }

StatusOr<std::unique_ptr<DataParallel>> DataParallel::Init(const DistOptions& o,
                                                           const c10::Device& device) {
  if (o.world < 1 || o.rank < 0 || o.rank >= o.world) {
    return InvalidArgumentError("dist: rank " + std::to_string(o.rank) + " is not in [0, world=" +
                                std::to_string(o.world) + ")");
  }
  if (o.backend != "auto" && o.backend != "gloo" && o.backend != "nccl") {
    return InvalidArgumentError("dist: backend must be auto, gloo or nccl, got '" + o.backend + "'");
  }
  std::unique_ptr<DataParallel> dp(new DataParallel(o));
  if (o.world == 1 && o.backend == "auto") return dp;
  if (o.master_port <= 0 || o.master_port > 65535) {
    return InvalidArgumentError("dist: master_port " + std::to_string(o.master_port) + " is not a port");
  }
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  Status s = TorchGuard("dist: rendezvous at " + o.master_addr + ":" + std::to_string(o.master_port), [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<size_t>(o.world);
    so.waitWorkers = true;
    so.timeout = impl->timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    const bool nccl = o.backend == "nccl" || (o.backend == "auto" && device.is_cuda());
    if (nccl) {
#if defined(RECA_HAVE_NCCL)
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = impl->timeout;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, o.rank, o.world, opts);
      impl->backend = "nccl";
#else
      TORCH_CHECK(false, "this build has no NCCL process group (needs -DRECA_WITH_CUDA=ON and the NCCL headers of the pip nvidia-nccl package)");
#endif
    } else {
#if defined(RECA_HAVE_GLOO)
      auto opts = c10d::ProcessGroupGloo::Options::create(impl->timeout);
      const std::string local =
          !o.local_addr.empty() ? o.local_addr : (IsLoopback(o.master_addr) ? o.master_addr : "");
      opts->devices.push_back(local.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                            : c10d::ProcessGroupGloo::createDeviceForHostname(local));
      impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, o.rank, o.world, opts);
      impl->backend = "gloo";
#else
      TORCH_CHECK(false, "this LibTorch has no Gloo headers: CPU data parallelism is unavailable");
#endif
    }
  });
  RECA_RETURN_IF_ERROR(s);
  dp->impl_ = std::move(impl);
  return dp;
}

Status DataParallel::Attach(const std::vector<torch::Tensor>& params) {
  if (!impl_) return OkStatus();
  Impl& m = *impl_;
  return TorchGuard("dist: attach", [&] {
    m.params = params;
    m.bucket_of.assign(params.size(), 0);
    m.slot_of.assign(params.size(), 0);
    m.copied.assign(params.size(), false);
    // Reverse order: the last layers' gradients are ready first.
    int64_t bytes = 0;
    for (size_t k = params.size(); k-- > 0;) {
      const int64_t nb = params[k].numel() * 4;
      if (m.buckets.empty() || (bytes > 0 && bytes + nb > options_.bucket_bytes)) {
        m.buckets.emplace_back();
        bytes = 0;
      }
      Impl::Bucket& b = m.buckets.back();
      m.bucket_of[k] = m.buckets.size() - 1;
      m.slot_of[k] = b.params.size();
      b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + params[b.params.back()].numel());
      b.params.push_back(k);
      bytes += nb;
    }
    for (Impl::Bucket& b : m.buckets) {
      const int64_t n = b.offsets.back() + params[b.params.back()].numel();
      b.buffer = torch::zeros({n}, torch::TensorOptions().dtype(torch::kFloat32).device(m.device));
    }
    for (size_t k = 0; k < params.size(); ++k) {
      auto acc = torch::autograd::impl::grad_accumulator(params[k]);
      TORCH_CHECK(acc, "dist: parameter ", k, " has no gradient accumulator");
      acc->add_post_hook(std::make_unique<GradReadyHook>(&m, k));
      m.accumulators.push_back(std::move(acc));
    }
    // Identical replicas: rank 0's weights everywhere.
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> flat;
    for (const auto& p : params) flat.push_back(p.detach().reshape({-1}).to(torch::kFloat32));
    std::vector<at::Tensor> all{torch::cat(flat)};
    auto work = m.pg->broadcast(all);
    work->wait(m.timeout);
    int64_t off = 0;
    for (const auto& p : params) {
      p.detach().copy_(all[0].narrow(0, off, p.numel()).view(p.sizes()));
      off += p.numel();
    }
  });
}

void DataParallel::Arm() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->armed = true;
  impl_->next_launch = 0;
  std::fill(impl_->copied.begin(), impl_->copied.end(), false);
  for (Impl::Bucket& b : impl_->buckets) {
    b.pending = b.params.size();
    b.launched = false;
    b.work.reset();
  }
}

StatusOr<AllReduceTiming> DataParallel::Finish() {
  AllReduceTiming timing;
  if (!impl_) return timing;
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  Status s = TorchGuard("dist: gradient all-reduce", [&] {
    std::lock_guard<std::mutex> lock(m.mu);
    m.armed = false;
    for (size_t k = 0; k < m.params.size(); ++k) {
      if (m.copied[k]) continue;
      m.CopyIn(k);  // not touched by the last backward: its earlier gradient (or zero)
      --m.buckets[m.bucket_of[k]].pending;
    }
    m.LaunchReady();
    // Which parameters have a gradient on some rank: those are averaged
    // (zero where a rank's step did not reach them, or replicas would drift);
    // those with none anywhere stay without one, as in a single process.
    std::vector<float> has(m.params.size());
    for (size_t k = 0; k < m.params.size(); ++k) has[k] = m.params[k].grad().defined() ? 1.f : 0.f;
    std::vector<at::Tensor> defined{torch::tensor(has).to(m.device)};
    m.pg->allreduce(defined)->wait(m.timeout);
    const torch::Tensor defined_count = defined[0].cpu();
    const auto defined_anywhere = defined_count.accessor<float, 1>();
    const double scale = 1.0 / options_.world;
    for (Impl::Bucket& b : m.buckets) {
      b.work->wait(m.timeout);
      b.buffer.mul_(scale);
      for (size_t i = 0; i < b.params.size(); ++i) {
        torch::Tensor& p = m.params[b.params[i]];
        if (defined_anywhere[static_cast<int64_t>(b.params[i])] == 0.f) continue;
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        p.mutable_grad().copy_(b.buffer.narrow(0, b.offsets[i], p.numel()).view(p.sizes()));
      }
      ++timing.buckets;
    }
  });
  RECA_RETURN_IF_ERROR(PeerFailure(s));
  timing.exposed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return timing;
}

StatusOr<std::vector<double>> DataParallel::AllReduceSum(const std::vector<double>& values) {
  if (!impl_) return values;
  std::vector<double> out(values.size());
  Status s = TorchGuard("dist: all-reduce", [&] {
    torch::Tensor t = torch::tensor(values, torch::kFloat64);
    if (impl_->device.is_cuda()) t = t.to(impl_->device);
    std::vector<at::Tensor> v{t};
    impl_->pg->allreduce(v)->wait(impl_->timeout);
    torch::Tensor r = v[0].cpu();
    for (size_t i = 0; i < out.size(); ++i) out[i] = r[static_cast<int64_t>(i)].item<double>();
  });
  RECA_RETURN_IF_ERROR(PeerFailure(s));
  return out;
}

Status DataParallel::Barrier(double timeout_s) {
  if (!impl_) return OkStatus();
  Status s = TorchGuard("dist: barrier", [&] {
    c10d::AllreduceOptions opts;
    if (timeout_s > 0) opts.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    std::vector<at::Tensor> v{torch::zeros({1}, torch::TensorOptions().device(impl_->device))};
    impl_->pg->allreduce(v, opts)->wait(timeout_s > 0 ? opts.timeout : impl_->timeout);
  });
  return PeerFailure(s);
}

}  // namespace reca
