#include "reca/maskgit/maskgit_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

#include <torch/nn/functional/loss.h>

#include "gtest/gtest.h"
#include "reca/batch.h"
#include "reca/model_io.h"
#include "reca/model_test_util.h"
#include "reca/tokenizer.h"

namespace reca {
namespace {

MaskGitConfig Tiny() { return *MaskGitPreset("tiny", Tokenizer().vocab_size()); }

std::shared_ptr<MaskGitModel> MakeModel(uint64_t seed = 0, MaskGitConfig c = Tiny()) {
  torch::manual_seed(seed);
  return std::make_shared<MaskGitModel>(c);
}

TEST(MaskGitModelTest, FittedCodebookTokenizesShapesFaithfully) {
  auto a = MakeModel(0), b = MakeModel(1);
  // Fitting does not depend on the weights' seed.
  EXPECT_TRUE(torch::equal(a->vq()->codebook(), b->vq()->codebook()));
  // Codes are distinct.
  EXPECT_EQ(std::get<0>(torch::_unique(a->vq()->codebook().sum(1))).size(0), 256);
  // Held-out images (the training stream, not the fitting set) survive the round trip.
  torch::Tensor images = ShapesStep(16).recon[0].images;
  torch::Tensor ids = a->vq()->Encode(images);
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{16, 64}));
  const double mse = (a->vq()->Decode(ids) - images).pow(2).mean().item<double>();
  EXPECT_LT(mse, 0.01) << "VQ reconstruction MSE " << mse;
  // Many codes are in use.
  EXPECT_GT(std::get<0>(torch::_unique(ids)).size(0), 20);
}

TEST(MaskGitModelTest, CosineMaskSchedule) {
  auto model = MakeModel();
  at::Generator gen = at::detail::createCPUGenerator(3);
  torch::Tensor mask = model->SampleGenerationNoise(4000, gen).at("mask");
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{4000, 64}));
  torch::Tensor per_row = mask.sum(1).to(torch::kFloat64);
  EXPECT_GE(per_row.min().item<double>(), 1);
  EXPECT_LE(per_row.max().item<double>(), 64);
  // E[cos(u pi / 2)] = 2 / pi, plus < 1/64 for the ceil.
  EXPECT_NEAR(per_row.mean().item<double>() / 64, 2 / M_PI + 0.5 / 64, 0.01);
}

TEST(MaskGitModelTest, LossIsCrossEntropyOnMaskedTokensAndReachesTheSharedLlm) {
  auto model = MakeModel();
  ASSERT_TRUE(FreezeModules(*model, model->DefaultFrozen()).ok());
  StepBatches step = ShapesStep(4);
  const ReconBatch& r = step.recon[0];
  at::Generator gen = at::detail::createCPUGenerator(5);
  NamedTensors noise = model->SampleGenerationNoise(4, gen);
  Prefix prefix = model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images));
  torch::Tensor loss = model->GenerationLoss(prefix, r.images, noise);
  // Untrained: close to ln(K) = ln(256) = 5.55.
  EXPECT_NEAR(loss.item<double>(), std::log(256.0), 1.0);
  loss.backward();
  EXPECT_EQ(ReachedModules(*model), (std::set<std::string>{"img", "llm", "projector"}));
  // The loss is the mean cross-entropy over the masked positions only.
  torch::NoGradGuard no_grad;
  torch::Tensor ids = model->vq()->Encode(r.images);
  torch::Tensor mask = noise.at("mask");
  torch::Tensor logits =
      model->ImageLogits(model->PrefixKeyValues(prefix), prefix.valid, ids.masked_fill(mask, 256));
  torch::Tensor per_token = -torch::log_softmax(logits, -1).gather(2, ids.unsqueeze(2)).squeeze(2);
  EXPECT_NEAR(loss.item<double>(), per_token.index({mask}).mean().item<double>(), 1e-5);
  // Captioning trains the same LLM and the projector (shared weights).
  const I2TBatch& c = step.i2t[0];
  {
    torch::AutoGradMode grad(true);
    model->I2TLoss(c.images, c.question, c.captions).backward();
  }
  EXPECT_EQ(ReachedModules(*model), (std::set<std::string>{"llm", "projector"}));
}

TEST(MaskGitModelTest, FitsOneBatchAndDecodesIteratively) {
  auto model = MakeModel(4);
  ASSERT_TRUE(FreezeModules(*model, model->DefaultFrozen()).ok());
  ReconBatch r = ShapesStep(8).recon[0];
  const auto [first, last] = FitOneBatch(*model, r, 40);
  EXPECT_LT(last, 0.5 * first) << first << " -> " << last;

  Prefix cond = model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images));
  SampleOptions o;
  o.num_iter = 6;
  o.cfg = 2.0;
  at::Generator g1 = at::detail::createCPUGenerator(1), g2 = at::detail::createCPUGenerator(1);
  torch::Tensor a = model->Generate(cond, cond, o, g1), b = model->Generate(cond, cond, o, g2);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{8, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(a, b));
  // Every output pixel is a codebook patch: re-encoding is exact.
  EXPECT_TRUE(torch::allclose(model->vq()->Decode(model->vq()->Encode(a)), a, 1e-5, 1e-5));
}

TEST(MaskGitModelTest, SavesAndLoadsThroughModelIo) {
  torch::manual_seed(0);
  StatusOr<std::shared_ptr<UnifiedModel>> m = CreateModel("maskgit", "tiny");
  ASSERT_TRUE(m.ok()) << m.status();
  StatusOr<std::string> bytes = EncodeModel(**m);
  ASSERT_TRUE(bytes.ok());
  StatusOr<std::shared_ptr<UnifiedModel>> back = DecodeModel(*bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->family(), "maskgit");
  auto a = (*m)->named_buffers(), b = (*back)->named_buffers();
  ASSERT_TRUE(torch::equal(a["vq.codebook"], b["vq.codebook"]));
  std::map<std::string, std::string> cfg = Tiny().ToMap();
  cfg["codebook_size"] = "1";
  EXPECT_NE(MaskGitConfig::FromMap(cfg).status().ToString().find("model.codebook_size"), std::string::npos);
}

}  // namespace
}  // namespace reca
