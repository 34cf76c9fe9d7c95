#include "reca/mar/small_bmm.h"

#include <torch/autograd.h>
#include <torch/utils.h>
#include <ATen/ATen.h>

#include "gtest/gtest.h"

namespace reca {
namespace {

TEST(SmallBmmTest, MatchesMatmulValuesAndGradients) {
  EXPECT_TRUE(HaveDirectSgemm()) << "Debian LibTorch resolves sgemm_ through libblas";
  for (bool tb : {false, true}) {
    torch::manual_seed(1);
    torch::Tensor a = torch::randn({2, 3, 5, 7}, torch::requires_grad());
    torch::Tensor b = torch::randn(tb ? std::vector<int64_t>{2, 3, 4, 7}
                                      : std::vector<int64_t>{2, 3, 7, 4},
                                   torch::requires_grad());
    torch::Tensor a2 = a.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
    // Non-contiguous inputs too: the attention passes permuted views.
    torch::Tensor out = BatchedMatmul(a.transpose(0, 1).transpose(0, 1), b, tb);
    torch::Tensor ref = torch::matmul(a2, tb ? b2.transpose(-2, -1) : b2);
    ASSERT_EQ(out.sizes(), ref.sizes());
    EXPECT_TRUE(torch::allclose(out, ref, 1e-5, 1e-6));
    torch::Tensor w = torch::randn(out.sizes());
    (out * w).sum().backward();
    (ref * w).sum().backward();
    EXPECT_TRUE(torch::allclose(a.grad(), a2.grad(), 1e-5, 1e-6)) << "tb=" << tb;
    EXPECT_TRUE(torch::allclose(b.grad(), b2.grad(), 1e-5, 1e-6)) << "tb=" << tb;
  }
}

TEST(SmallBmmTest, FallsBackForOtherDtypes) {
  torch::Tensor a = torch::randn({2, 3, 4}, torch::kDouble), b = torch::randn({2, 4, 5}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(BatchedMatmul(a, b), torch::matmul(a, b)));
}

}  // namespace
}  // namespace reca
