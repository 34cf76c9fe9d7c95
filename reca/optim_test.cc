#include "reca/optim.h"

#include <cmath>

#include "gtest/gtest.h"
#include "reca/mar/mar_model.h"
#include "reca/tokenizer.h"

namespace reca {
namespace {

TEST(OptimTest, WarmupThenCosine) {
  OptimOptions o;
  o.lr = 1.0;
  o.min_lr = 0.1;
  o.warmup_steps = 4;
  o.total_steps = 14;
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 0), 0.25);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 3), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(o, 4), 1.0);
  EXPECT_NEAR(LearningRateAt(o, 9), 0.55, 1e-12);  // half way
  EXPECT_NEAR(LearningRateAt(o, 14), 0.1, 1e-12);
  EXPECT_NEAR(LearningRateAt(o, 100), 0.1, 1e-12);
}

TEST(OptimTest, ValidationNamesTheField) {
  OptimOptions o;
  o.lr = 0;
  EXPECT_EQ(o.Validate().message(), "optimizer.lr: must be > 0");
}

TEST(OptimTest, NoWeightDecayOnOneDimensionalParams) {
  torch::manual_seed(0);
  MarConfig c = *MarPreset("tiny", Tokenizer().vocab_size());
  MarModel model(c);
  OptimOptions o;
  o.lr = 1e-3;
  o.weight_decay = 0.5;
  o.total_steps = 10;
  o.ema_decay = 0.9;
  Optimizer opt(model, o);
  ASSERT_EQ(opt.adamw().param_groups().size(), 2u);
  for (const auto& p : opt.adamw().param_groups()[0].params()) EXPECT_GE(p.dim(), 2);
  for (const auto& p : opt.adamw().param_groups()[1].params()) EXPECT_EQ(p.dim(), 1);
  EXPECT_EQ(static_cast<const torch::optim::AdamWOptions&>(opt.adamw().param_groups()[1].options())
                .weight_decay(),
            0.0);
  // With zero gradients, only decay moves weights: biases stay, matrices shrink.
  for (auto& p : model.parameters()) p.mutable_grad() = torch::zeros_like(p);
  torch::Tensor bias = model.named_parameters()["proj_out.bias"].detach().clone().fill_(0.3);
  model.named_parameters()["proj_out.bias"].detach().copy_(bias);
  torch::Tensor w = model.named_parameters()["proj_out.weight"].detach().clone();
  auto norm = opt.Step(0);
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(*norm, 0.0);
  EXPECT_TRUE(torch::equal(model.named_parameters()["proj_out.bias"], bias));
  EXPECT_LT(model.named_parameters()["proj_out.weight"].abs().sum().item<double>(),
            w.abs().sum().item<double>());
  // EMA moved 10% of the way from the initial bias (0) towards the new one.
  EXPECT_NEAR(opt.ema().at("proj_out.bias")[0].item<double>(), 0.1 * 0.3, 1e-6);
}

}  // namespace
}  // namespace reca
