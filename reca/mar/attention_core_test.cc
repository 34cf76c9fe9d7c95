#include "reca/mar/attention_core.h"

#include <vector>

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "gtest/gtest.h"

namespace reca {
namespace {

struct Result {
  torch::Tensor out, dqkv, dk, dv;
};

// The attention and its gradients under a fixed upstream gradient `w`, on
// fresh leaves copied from the inputs; `direct` picks the path.
Result RunAttention(bool direct, const torch::Tensor& qkv, const torch::Tensor& ck, const torch::Tensor& cv,
           const torch::Tensor& allowed, int64_t heads, bool context_grad) {
  SetDirectAttentionForTesting(direct);
  torch::Tensor x = qkv.detach().clone().requires_grad_();
  torch::Tensor k, v;
  if (ck.defined()) {
    // Context as another attention would keep it: strided views of a packed buffer.
    torch::Tensor packed = torch::cat({torch::zeros_like(ck), ck, cv}, -1).detach();
    packed = packed.permute({0, 2, 1, 3}).reshape({ck.size(0), ck.size(2), -1}).contiguous();
    packed.requires_grad_(context_grad);
    const int64_t hd = ck.size(3);
    torch::Tensor heads_view = packed.view({ck.size(0), ck.size(2), heads, 3 * hd}).permute({0, 2, 1, 3});
    k = heads_view.narrow(3, hd, hd);
    v = heads_view.narrow(3, 2 * hd, hd);
    if (context_grad) {
      k.retain_grad();
      v.retain_grad();
    }
  }
  torch::Tensor out = AttentionCore(x, heads, 0.35, allowed, k, v);
  torch::manual_seed(7);
  torch::Tensor w = torch::randn(out.sizes());
  (out * w).sum().backward();
  SetDirectAttentionForTesting(true);
  Result r{out.detach(), x.grad(), torch::Tensor(), torch::Tensor()};
  if (context_grad) r.dk = k.grad(), r.dv = v.grad();
  return r;
}

void ExpectClose(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << what << ": max diff " << (a - b).abs().max().item<float>();
}

TEST(AttentionCoreTest, DirectPathMatchesTextbookValuesAndGradients) {
  ASSERT_TRUE(HaveDirectSgemm()) << "Debian LibTorch resolves sgemm_ through libblas";
  const int64_t b = 2, len = 5, heads = 3, hd = 4, lc = 6;
  torch::manual_seed(1);
  const torch::Tensor qkv = torch::randn({b, len, 3 * heads * hd});
  const torch::Tensor ck = torch::randn({b, heads, lc, hd}), cv = torch::randn({b, heads, lc, hd});
  // Causal over the sequence, all of the context visible but one key masked.
  torch::Tensor self_mask = torch::ones({len, len}, torch::kBool).tril().expand({b, len, len});
  torch::Tensor with_ctx = torch::cat({torch::ones({b, len, lc}, torch::kBool), self_mask}, 2);
  with_ctx.index_put_({1, torch::indexing::Slice(), 2}, false);

  struct Case {
    const char* name;
    bool context, mask, context_grad;
  };
  for (const Case& c : std::vector<Case>{{"plain", false, false, false},
                                         {"causal", false, true, false},
                                         {"context, frozen", true, true, false},
                                         {"context, trained", true, true, true},
                                         {"context, no mask", true, false, true}}) {
    SCOPED_TRACE(c.name);
    const torch::Tensor allowed = c.mask ? (c.context ? with_ctx : self_mask) : torch::Tensor();
    const torch::Tensor k = c.context ? ck : torch::Tensor(), v = c.context ? cv : torch::Tensor();
    const Result direct = RunAttention(true, qkv, k, v, allowed, heads, c.context_grad);
    const Result ref = RunAttention(false, qkv, k, v, allowed, heads, c.context_grad);
    ExpectClose(direct.out, ref.out, "output");
    ExpectClose(direct.dqkv, ref.dqkv, "d qkv");
    if (c.context_grad) {
      ExpectClose(direct.dk, ref.dk, "d context keys");
      ExpectClose(direct.dv, ref.dv, "d context values");
    }
  }
}

TEST(AttentionCoreTest, SplitKeysValuesViewsThePackedTensor) {
  torch::Tensor qkv = torch::arange(2 * 3 * 12, torch::kFloat).view({2, 3, 12});
  torch::Tensor k, v;
  SplitKeysValues(qkv, 2, &k, &v);
  ASSERT_EQ(k.sizes(), (std::vector<int64_t>{2, 2, 3, 2}));
  // Batch 1, head 1, token 2: the keys sit at columns 4 + 2..3 of the row.
  EXPECT_EQ(k[1][1][2][0].item<float>(), qkv[1][2][6].item<float>());
  EXPECT_EQ(v[1][1][2][1].item<float>(), qkv[1][2][11].item<float>());
  EXPECT_EQ(k.data_ptr(), qkv.data_ptr<float>() + 4);
}

TEST(AttentionCoreTest, OtherDtypesTakeTheTextbookPath) {
  torch::Tensor qkv = torch::randn({2, 3, 12}, torch::kDouble);
  torch::Tensor direct = AttentionCore(qkv, 2, 0.5, torch::Tensor());
  SetDirectAttentionForTesting(false);
  torch::Tensor ref = AttentionCore(qkv, 2, 0.5, torch::Tensor());
  SetDirectAttentionForTesting(true);
  EXPECT_EQ(direct.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::equal(direct, ref));
}

}  // namespace
}  // namespace reca
