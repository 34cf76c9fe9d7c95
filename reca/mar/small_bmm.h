// Batched matrix products for the many small attention matrices of the
// small presets.
//
// ATen's CPU bmm (1.13) walks the batch with one select() + addmm per entry;
// for attention over a few dozen tokens that bookkeeping costs about as much
// as the arithmetic (tiny preset: ~28k selects per training step). This
// calls the BLAS sgemm directly on raw pointers for each entry, with its own
// autograd formula. Anything else (CUDA, non-fp32, no sgemm symbol) goes to
// torch::matmul, so results never depend on where it runs beyond float
// rounding.
#ifndef RECA_MAR_SMALL_BMM_H_
#define RECA_MAR_SMALL_BMM_H_

#include <ATen/core/Tensor.h>

namespace reca {

// a [..., n, k] x b [..., k, m] -> [..., n, m] (b given as [..., m, k] and
// used transposed when transpose_b); batch dims must match exactly.
at::Tensor BatchedMatmul(const at::Tensor& a, const at::Tensor& b, bool transpose_b = false);

// Whether the direct BLAS path is available in this process (for tests).
bool HaveDirectSgemm();

}  // namespace reca

#endif  // RECA_MAR_SMALL_BMM_H_
