#include "reca/peak_flops.h"

#include <chrono>

#include <ATen/ATen.h>

#include "reca/torch_guard.h"

namespace reca {

StatusOr<double> MeasureGemmFlops(const c10::Device& device, bool bf16, double seconds) {
  return TorchGuardOr("measuring the device's GEMM rate", [&]() -> double {
    const int64_t n = device.is_cuda() ? 8192 : 1024;
    const auto opts = at::TensorOptions().device(device).dtype(bf16 && device.is_cuda() ? at::kBFloat16 : at::kFloat);
    const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
    at::Tensor c = at::mm(a, b);
    c[0][0].item<float>();  // warm-up; on CUDA, waits for the device
    const int64_t burst = device.is_cuda() ? 8 : 1;  // matmuls queued between waits
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    int64_t reps = 0;
    double elapsed = 0;
    while (reps < 3 || elapsed < seconds) {
      for (int64_t i = 0; i < burst; ++i) at::mm_out(c, a, b);
      reps += burst;
      if (device.is_cuda()) c[0][0].item<float>();
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    return 2.0 * n * n * n * reps / elapsed;
  });
}

}  // namespace reca
