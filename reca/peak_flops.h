// The denominator of MFU (model FLOP/s utilisation): the device's dense-GEMM
// rate. Operators of GPU fleets usually give the datasheet peak (reca-worker
// --peak_flops); without one, each trainer measures what its device (its share
// of the cores on CPU) reaches on a large square matmul, as bench/ does.
#ifndef RECA_PEAK_FLOPS_H_
#define RECA_PEAK_FLOPS_H_

#include <c10/core/Device.h>

#include "reca/status.h"

namespace reca {

// FLOP/s of n x n x n matmuls on `device` (fp32; bf16 on CUDA when `bf16`):
// n = 1024 on CPU, 8192 on CUDA, repeated for about `seconds` after a warm-up.
StatusOr<double> MeasureGemmFlops(const c10::Device& device, bool bf16, double seconds = 0.2);

}  // namespace reca

#endif  // RECA_PEAK_FLOPS_H_
