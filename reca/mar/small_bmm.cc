#include "reca/mar/small_bmm.h"

#include <dlfcn.h>

#include <ATen/ATen.h>
#include <torch/autograd.h>

namespace reca {
namespace {

// Fortran BLAS: column-major, arguments by pointer.
using SgemmFn = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                         const int* k, const float* alpha, const float* a, const int* lda,
                         const float* b, const int* ldb, const float* beta, float* c,
                         const int* ldc);

SgemmFn Sgemm() {
  static const SgemmFn fn = reinterpret_cast<SgemmFn>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  return fn;
}

// c[i] = op(a[i]) op(b[i]) for 3-D contiguous fp32 CPU tensors, where op
// transposes when the flag is set. Row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T, so B goes first.
at::Tensor RawBmm(const at::Tensor& a, bool ta, const at::Tensor& b, bool tb) {
  const int64_t batch = a.size(0);
  const int n = static_cast<int>(ta ? a.size(2) : a.size(1));
  const int k = static_cast<int>(ta ? a.size(1) : a.size(2));
  const int m = static_cast<int>(tb ? b.size(1) : b.size(2));
  at::Tensor c = at::empty({batch, n, m}, a.options());
  const int lda = static_cast<int>(a.size(2)), ldb = static_cast<int>(b.size(2)), ldc = m;
  const float one = 1.0f, zero = 0.0f;
  const char opa = ta ? 'T' : 'N', opb = tb ? 'T' : 'N';
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  float* pc = c.data_ptr<float>();
  const int64_t sa = a.size(1) * a.size(2), sb = b.size(1) * b.size(2), sc = int64_t(n) * m;
  SgemmFn sgemm = Sgemm();
  for (int64_t i = 0; i < batch; ++i) {
    sgemm(&opb, &opa, &m, &n, &k, &one, pb + i * sb, &ldb, pa + i * sa, &lda, &zero, pc + i * sc, &ldc);
  }
  return c;
}

// C = A op(B) with op = transpose when `tb`; A [N, n, k], B [N, k, m] or [N, m, k].
class BmmFn : public torch::autograd::Function<BmmFn> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a,
                            const at::Tensor& b, bool tb) {
    ctx->save_for_backward({a, b});
    ctx->saved_data["tb"] = tb;
    return RawBmm(a, false, b, tb);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const bool tb = ctx->saved_data["tb"].toBool();
    at::Tensor g = grads[0].contiguous();
    if (tb) {  // C = A B^T: dA = dC B, dB = dC^T A
      return {RawBmm(g, false, saved[1], false), RawBmm(g, true, saved[0], false), at::Tensor()};
    }
    // C = A B: dA = dC B^T, dB = A^T dC
    return {RawBmm(g, false, saved[1], true), RawBmm(saved[0], true, g, false), at::Tensor()};
  }
};

}  // namespace

bool HaveDirectSgemm() { return Sgemm() != nullptr; }

at::Tensor BatchedMatmul(const at::Tensor& a, const at::Tensor& b, bool transpose_b) {
  const int64_t bk = transpose_b ? b.size(-1) : b.size(-2);
  const int64_t bm = transpose_b ? b.size(-2) : b.size(-1);
  const bool direct = HaveDirectSgemm() && a.device().is_cpu() && b.device().is_cpu() &&
                      a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat &&
                      a.dim() >= 3 && a.dim() == b.dim() &&
                      a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2) &&
                      a.size(-1) == bk && a.numel() > 0 && b.numel() > 0;
  if (!direct) return at::matmul(a, transpose_b ? b.transpose(-2, -1) : b);
  std::vector<int64_t> out = a.sizes().slice(0, a.dim() - 2).vec();
  out.push_back(a.size(-2));
  out.push_back(bm);
  at::Tensor a3 = a.reshape({-1, a.size(-2), a.size(-1)}).contiguous();
  at::Tensor b3 = b.reshape({-1, b.size(-2), b.size(-1)}).contiguous();
  return BmmFn::apply(a3, b3, transpose_b).view(out);
}

}  // namespace reca
