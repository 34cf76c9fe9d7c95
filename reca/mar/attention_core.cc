#include "reca/mar/attention_core.h"

#include <dlfcn.h>

#include <atomic>
#include <limits>

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

std::atomic<bool> g_direct_enabled{true};

// A row-major matrix in some buffer: its first element and its row stride.
struct Mat {
  const float* p;
  int ld;
};

// Row-major C[n x m] = alpha op(A) op(B) + beta C, where op transposes when
// the flag is set (A is then stored [k x n], B [m x k]). Row-major C = op(A)
// op(B) is column-major C^T = op(B)^T op(A)^T, so B goes first.
void Gemm(bool ta, bool tb, int n, int m, int k, float alpha, Mat a, Mat b, float beta, float* c,
          int ldc) {
  const char opa = ta ? 'T' : 'N', opb = tb ? 'T' : 'N';
  Sgemm()(&opb, &opa, &m, &n, &k, &alpha, b.p, &b.ld, a.p, &a.ld, &beta, c, &ldc);
}

// Per-(batch, head) matrices of a [B, heads, L, hd] tensor with unit stride
// along hd.
struct HeadView {
  const float* base;
  int64_t batch_stride, head_stride;
  int ld;
  Mat At(int64_t b, int64_t h) const { return {base + b * batch_stride + h * head_stride, ld}; }
};

HeadView ViewOf(const at::Tensor& t) {
  return {t.data_ptr<float>(), t.stride(0), t.stride(1), static_cast<int>(t.stride(2))};
}

// q, k or v (`which` = 0, 1, 2) of a packed [B, L, 3 * D] buffer.
HeadView PackedView(const float* qkv, int64_t len, int64_t dim, int64_t hd, int which) {
  return {qkv + which * dim, len * 3 * dim, hd, static_cast<int>(3 * dim)};
}

float* At(const at::Tensor& t, int64_t offset) { return t.data_ptr<float>() + offset; }

class AttentionFn : public torch::autograd::Function<AttentionFn> {
 public:
  // ck, cv: the context; allowed: the mask. Custom functions take no
  // undefined tensors, so "none" is an empty tensor.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& qkv,
                            const at::Tensor& ck, const at::Tensor& cv, const at::Tensor& allowed,
                            int64_t heads, double scale) {
    const int64_t b = qkv.size(0), len = qkv.size(1), dim = qkv.size(2) / 3, hd = dim / heads;
    const int64_t lc = ck.numel() ? ck.size(2) : 0, lk = lc + len;
    const int n = static_cast<int>(len), nc = static_cast<int>(lc), d = static_cast<int>(hd);
    const float* base = qkv.data_ptr<float>();
    const HeadView q = PackedView(base, len, dim, hd, 0), k = PackedView(base, len, dim, hd, 1),
                   v = PackedView(base, len, dim, hd, 2);
    const HeadView kc = lc ? ViewOf(ck) : HeadView{}, vc = lc ? ViewOf(cv) : HeadView{};
    const float s = static_cast<float>(scale);

    at::Tensor scores = at::empty({b, heads, len, lk}, qkv.options());
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t h = 0; h < heads; ++h) {
        float* row = At(scores, ((i * heads + h) * len) * lk);
        if (lc) Gemm(false, true, n, nc, d, s, q.At(i, h), kc.At(i, h), 0.f, row, static_cast<int>(lk));
        Gemm(false, true, n, n, d, s, q.At(i, h), k.At(i, h), 0.f, row + lc, static_cast<int>(lk));
      }
    }
    if (allowed.numel()) {
      scores.masked_fill_(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
    }
    at::Tensor p = at::_softmax(scores, -1, false);
    scores.reset();

    at::Tensor out = at::empty({b, len, dim}, qkv.options());
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t h = 0; h < heads; ++h) {
        const float* pr = At(p, ((i * heads + h) * len) * lk);
        float* o = At(out, i * len * dim + h * hd);
        const int ldo = static_cast<int>(dim), ldp = static_cast<int>(lk);
        if (lc) Gemm(false, false, n, d, nc, 1.f, {pr, ldp}, vc.At(i, h), 0.f, o, ldo);
        Gemm(false, false, n, d, n, 1.f, {pr + lc, ldp}, v.At(i, h), lc ? 1.f : 0.f, o, ldo);
      }
    }
    if (lc) {
      ctx->save_for_backward({qkv, ck, cv});
    } else {
      ctx->save_for_backward({qkv});
    }
    ctx->saved_data["p"] = p;
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& qkv = saved[0];
    const at::Tensor p = ctx->saved_data["p"].toTensor();
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const float s = static_cast<float>(ctx->saved_data["scale"].toDouble());
    const int64_t b = qkv.size(0), len = qkv.size(1), dim = qkv.size(2) / 3, hd = dim / heads;
    const int64_t lk = p.size(3), lc = lk - len;
    const int n = static_cast<int>(len), nc = static_cast<int>(lc), d = static_cast<int>(hd);
    const int ldp = static_cast<int>(lk), ldo = static_cast<int>(dim), ldqkv = static_cast<int>(3 * dim);
    const float* base = qkv.data_ptr<float>();
    const HeadView q = PackedView(base, len, dim, hd, 0), k = PackedView(base, len, dim, hd, 1),
                   v = PackedView(base, len, dim, hd, 2);
    const HeadView kc = lc ? ViewOf(saved[1]) : HeadView{}, vc = lc ? ViewOf(saved[2]) : HeadView{};
    const at::Tensor g = grads[0].contiguous();
    const float* gp = g.data_ptr<float>();

    // dP = dO V^T, then through the softmax: dS = P * (dP - rowsum(dP * P)).
    at::Tensor dp = at::empty_like(p);
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t h = 0; h < heads; ++h) {
        const Mat go{gp + i * len * dim + h * hd, ldo};
        float* row = At(dp, ((i * heads + h) * len) * lk);
        if (lc) Gemm(false, true, n, nc, d, 1.f, go, vc.At(i, h), 0.f, row, ldp);
        Gemm(false, true, n, n, d, 1.f, go, v.At(i, h), 0.f, row + lc, ldp);
      }
    }
    const at::Tensor ds = at::_softmax_backward_data(dp, p, -1, at::kFloat);
    dp.reset();

    // scores = s Q K^T: dQ = s dS K, dK = s dS^T Q; out = P V: dV = P^T dO.
    const bool context_grad = lc && (ctx->needs_input_grad(1) || ctx->needs_input_grad(2));
    at::Tensor dqkv = at::empty_like(qkv);
    at::Tensor dkc, dvc;  // [B, Lc, heads, hd], returned as [B, heads, Lc, hd] views
    if (context_grad) {
      dkc = at::empty({b, lc, heads, hd}, qkv.options());
      dvc = at::empty({b, lc, heads, hd}, qkv.options());
    }
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t off = ((i * heads + h) * len) * lk;
        const float* dsr = ds.data_ptr<float>() + off;
        const float* pr = p.data_ptr<float>() + off;
        const Mat go{gp + i * len * dim + h * hd, ldo};
        float* dq = At(dqkv, i * len * 3 * dim + h * hd);
        Gemm(false, false, n, d, n, s, {dsr + lc, ldp}, k.At(i, h), 0.f, dq, ldqkv);
        if (lc) Gemm(false, false, n, d, nc, s, {dsr, ldp}, kc.At(i, h), 1.f, dq, ldqkv);
        Gemm(true, false, n, d, n, s, {dsr + lc, ldp}, q.At(i, h), 0.f, dq + dim, ldqkv);
        Gemm(true, false, n, d, n, 1.f, {pr + lc, ldp}, go, 0.f, dq + 2 * dim, ldqkv);
        if (context_grad) {
          Gemm(true, false, nc, d, n, s, {dsr, ldp}, q.At(i, h), 0.f, At(dkc, i * lc * dim + h * hd), ldo);
          Gemm(true, false, nc, d, n, 1.f, {pr, ldp}, go, 0.f, At(dvc, i * lc * dim + h * hd), ldo);
        }
      }
    }
    if (context_grad) {
      dkc = dkc.permute({0, 2, 1, 3});
      dvc = dvc.permute({0, 2, 1, 3});
    }
    return {dqkv, dkc, dvc, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The same arithmetic written as bench/python/reca_mar.py writes it.
at::Tensor TextbookAttention(const at::Tensor& qkv, int64_t heads, double scale, const at::Tensor& allowed,
                             const at::Tensor& context_k, const at::Tensor& context_v) {
  const int64_t b = qkv.size(0), len = qkv.size(1), dim = qkv.size(2) / 3;
  const at::Tensor parts = qkv.view({b, len, 3, heads, dim / heads}).permute({2, 0, 3, 1, 4});
  at::Tensor k = parts[1], v = parts[2];
  if (context_k.defined()) {
    k = at::cat({context_k, k}, 2);
    v = at::cat({context_v, v}, 2);
  }
  at::Tensor att = at::matmul(parts[0], k.transpose(-2, -1)) * scale;
  if (allowed.defined()) {
    att = att.masked_fill(allowed.unsqueeze(1).logical_not(), -std::numeric_limits<float>::infinity());
  }
  return at::matmul(att.softmax(-1), v).transpose(1, 2).reshape({b, len, dim});
}

}  // namespace

bool HaveDirectSgemm() { return Sgemm() != nullptr; }

void SetDirectAttentionForTesting(bool enabled) { g_direct_enabled = enabled; }

void SplitKeysValues(const at::Tensor& qkv, int64_t heads, at::Tensor* k, at::Tensor* v) {
  const int64_t b = qkv.size(0), len = qkv.size(1), dim = qkv.size(2) / 3;
  const at::Tensor parts = qkv.view({b, len, 3, heads, dim / heads}).permute({2, 0, 3, 1, 4});
  *k = parts[1];
  *v = parts[2];
}

at::Tensor AttentionCore(const at::Tensor& qkv, int64_t heads, double scale, const at::Tensor& allowed,
                         const at::Tensor& context_k, const at::Tensor& context_v) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * heads) == 0, "AttentionCore: qkv must be [B, L, 3 * D]");
  TORCH_CHECK(context_k.defined() == context_v.defined(), "AttentionCore: context keys without values");
  auto cpu_float = [](const at::Tensor& t) {
    return !t.defined() || (t.device().is_cpu() && t.scalar_type() == at::kFloat);
  };
  const bool direct = g_direct_enabled && HaveDirectSgemm() && cpu_float(qkv) && cpu_float(context_k) &&
                      cpu_float(context_v) && qkv.numel() > 0;
  if (!direct) return TextbookAttention(qkv, heads, scale, allowed, context_k, context_v);
  const at::Tensor none = at::empty({0}, qkv.options());
  auto context = [&](const at::Tensor& t) {  // sgemm needs unit stride along each matrix row
    return !t.defined() || t.numel() == 0 ? none : t.stride(-1) == 1 ? t : t.contiguous();
  };
  return AttentionFn::apply(qkv.contiguous(), context(context_k), context(context_v),
                            allowed.defined() ? allowed : none, heads, scale);
}

}  // namespace reca
