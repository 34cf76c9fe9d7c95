#include "reca/mar/mar_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdlib>

#include "gtest/gtest.h"
#include "reca/batch.h"
#include "reca/data_pipeline.h"
#include "reca/model_io.h"
#include "reca/tokenizer.h"

namespace reca {
namespace {

MarConfig Tiny() { return *MarPreset("tiny", Tokenizer().vocab_size()); }

std::shared_ptr<MarModel> MakeModel(uint64_t seed = 0, MarConfig c = Tiny()) {
  torch::manual_seed(seed);
  return std::make_shared<MarModel>(c);
}

StepBatches ShapesStep(const JobSpec& spec, int64_t step) {
  StatusOr<std::vector<StepBatches>> steps = BuildSteps(spec, 32, step + 1);
  EXPECT_TRUE(steps.ok()) << steps.status();
  return steps->back();
}

ReconBatch SomeReconBatch(int64_t b, double cfg_drop = 0.1) {
  return ShapesStep(ShapesSpec(1, 1, 1, b, cfg_drop), 3).recon[0];
}

TEST(MarModelTest, PatchifyRoundTrip) {
  torch::Tensor img = torch::rand({2, 3, 32, 32});
  torch::Tensor tok = Patchify(img, 4);
  EXPECT_EQ(tok.sizes(), (std::vector<int64_t>{2, 64, 48}));
  EXPECT_LE(tok.max().item<float>(), 1.0f);
  EXPECT_GE(tok.min().item<float>(), -1.0f);
  EXPECT_TRUE(torch::allclose(Unpatchify(tok, 4, 32), img, 1e-6, 1e-6));
  // Token 1 is the patch right of token 0 (row-major patches).
  EXPECT_TRUE(torch::allclose(tok[0][1].view({3, 4, 4}),
                              img[0].narrow(1, 0, 4).narrow(2, 4, 4) * 2 - 1));
}

TEST(MarModelTest, MaskRatioFollowsTruncatedNormal) {
  auto model = MakeModel();
  at::Generator gen = at::detail::createCPUGenerator(7);
  const int64_t seq = Tiny().seq_len();
  double sum = 0;
  const int draws = 400;
  for (int i = 0; i < draws; ++i) {
    NamedTensors n = model->SampleGenerationNoise(3, gen);
    torch::Tensor per_row = n.at("mask").sum(1);
    ASSERT_TRUE(torch::all(per_row == per_row[0]).item<bool>()) << "same count per row";
    const int64_t k = per_row[0].item<int64_t>();
    ASSERT_GE(k, static_cast<int64_t>(std::ceil(0.7 * seq)));
    ASSERT_LE(k, seq);
    sum += double(k) / seq;
    ASSERT_EQ(n.at("t").size(0), 3 * seq * 4);
    ASSERT_GE(n.at("t").min().item<int64_t>(), 0);
    ASSERT_LT(n.at("t").max().item<int64_t>(), 1000);
    ASSERT_EQ(n.at("eps").sizes(), (std::vector<int64_t>{3 * seq * 4, 48}));
  }
  // E[r] for N(1, 0.25) truncated to [0.7, 1] is 0.8670 (plus < 1/64 for the ceil).
  EXPECT_NEAR(sum / draws, 0.867 + 0.5 / seq, 0.015);
}

TEST(MarModelTest, CosineScheduleShape) {
  CosineSchedule s(1000);
  ASSERT_EQ(s.alphas_cumprod.size(), 1000u);
  EXPECT_GT(s.alphas_cumprod.front(), 0.999);
  EXPECT_LT(s.alphas_cumprod.back(), 1e-4);
  for (size_t i = 1; i < 1000; ++i) ASSERT_LT(s.alphas_cumprod[i], s.alphas_cumprod[i - 1]);
  // Nichol & Dhariwal: alpha_bar(t) = f(t)/f(0), f(t) = cos^2((t/T + s)/(1 + s) pi/2).
  auto f = [](double u) { return std::pow(std::cos((u + 0.008) / 1.008 * M_PI / 2), 2); };
  EXPECT_NEAR(s.alphas_cumprod[499], f(0.5) / f(0.0), 1e-9);
  EXPECT_NEAR(s.sqrt_ab[499].item<float>() * s.sqrt_ab[499].item<float>() +
                  s.sqrt_one_minus_ab[499].item<float>() * s.sqrt_one_minus_ab[499].item<float>(),
              1.0, 1e-6);
}

TEST(MarModelTest, DiffusionLossOnlySeesMaskedTokens) {
  auto model = MakeModel();
  ReconBatch b = SomeReconBatch(2);
  at::Generator gen = at::detail::createCPUGenerator(1);
  NamedTensors noise = model->SampleGenerationNoise(2, gen);
  torch::NoGradGuard ng;
  auto loss_with = [&](const NamedTensors& n) {
    Prefix p = model->AssemblePrefix(b.prompt, model->UnderstandingEmbed(b.images));
    return model->GenerationLoss(p, b.images, n).item<double>();
  };
  const double base = loss_with(noise);
  const torch::Tensor masked = noise.at("mask").reshape({-1}).repeat({4});
  NamedTensors changed_visible = noise, changed_masked = noise;
  changed_visible["eps"] = torch::where(masked.unsqueeze(1), noise.at("eps"), noise.at("eps") * 5 + 1);
  changed_masked["eps"] = torch::where(masked.unsqueeze(1), noise.at("eps") * 5 + 1, noise.at("eps"));
  EXPECT_DOUBLE_EQ(loss_with(changed_visible), base);
  EXPECT_NE(loss_with(changed_masked), base);
  // The freshly initialised head predicts 0, so the loss is E[eps^2] ~ 1.
  EXPECT_NEAR(base, 1.0, 0.1);
}

TEST(MarModelTest, UnderstandingGradientIsScaled) {
  MarConfig full = Tiny();
  full.und_grad_scale = 1.0;
  auto scaled = MakeModel(3), plain = MakeModel(3, full);
  torch::Tensor img = torch::rand({2, 3, 32, 32});
  scaled->UnderstandingEmbed(img).pow(2).sum().backward();
  plain->UnderstandingEmbed(img).pow(2).sum().backward();
  torch::Tensor g_scaled = scaled->named_parameters()["enc.z_proj.weight"].grad();
  torch::Tensor g_plain = plain->named_parameters()["enc.z_proj.weight"].grad();
  EXPECT_TRUE(torch::allclose(g_scaled, g_plain * 0.1, 1e-4, 1e-6));
  // The understanding view is lower-resolution: 4x4 tokens + the buffer tokens.
  const int64_t visual = 16 + Tiny().buffer_tokens;
  EXPECT_EQ(scaled->UnderstandingEmbed(img).size(1), visual);
  EXPECT_EQ(scaled->NumVisualTokens(), visual);
}

TEST(MarModelTest, PrefixKeepsVisualTokensWhenTextIsDropped) {
  auto model = MakeModel();
  ReconBatch dropped = SomeReconBatch(3, /*cfg_drop=*/1.0);
  Tokenizer tok;
  std::vector<int64_t> want = tok.Encode(kUncondPrompt);
  want.push_back(Tokenizer::kAssistant);
  for (int64_t i = 0; i < 3; ++i) {
    torch::Tensor post = dropped.prompt.post[i];
    torch::Tensor real = post.index({post.ne(Tokenizer::kPad)});
    EXPECT_EQ(std::vector<int64_t>(real.data_ptr<int64_t>(), real.data_ptr<int64_t>() + real.numel()),
              want);
  }
  torch::NoGradGuard ng;
  Prefix p = model->AssemblePrefix(dropped.prompt, model->UnderstandingEmbed(dropped.images));
  const int64_t visual = model->NumVisualTokens();
  EXPECT_EQ(p.embeds.size(1), 1 + visual + dropped.prompt.post.size(1));
  EXPECT_TRUE(torch::all(p.valid.narrow(1, 1, visual)).item<bool>());
}

TEST(MarModelTest, CausalMaskAndPaddingIsolation) {
  torch::Tensor valid = torch::tensor({false, true, true, true}).view({1, 4});
  torch::Tensor m = CausalPaddingMask(valid)[0];
  EXPECT_TRUE(m[0][0].item<bool>());   // a pad row still sees itself
  EXPECT_FALSE(m[2][0].item<bool>());  // nobody sees the pad
  EXPECT_FALSE(m[1][2].item<bool>());  // no looking ahead
  EXPECT_TRUE(m[3][1].item<bool>());

  // Captioning loss: extra right padding changes nothing.
  auto model = MakeModel();
  I2TBatch b = ShapesStep(ShapesSpec(0, 1, 0, 2), 0).i2t[0];
  torch::NoGradGuard ng;
  const double l1 = model->I2TLoss(b.images, b.question, b.captions).item<double>();
  torch::Tensor padded = torch::cat({b.captions, torch::zeros({2, 5}, torch::kLong)}, 1);
  const double l2 = model->I2TLoss(b.images, b.question, padded).item<double>();
  EXPECT_NEAR(l1, l2, 1e-5);
  EXPECT_NEAR(l1, std::log(double(Tokenizer().vocab_size())), 1.0);
}

TEST(MarModelTest, GenerateIsDeterministicAndInRange) {
  auto model = MakeModel();
  model->eval();
  Tokenizer tok;
  PromptIds cond = MakePromptIds(tok, {"generate an image : a red circle .", "generate an image : a square ."}, 40);
  PromptIds unc = MakePromptIds(tok, {kUncondPrompt, kUncondPrompt}, 40);
  SampleOptions o;
  o.num_iter = 4;
  o.diffusion_steps = 5;
  auto run = [&] {
    at::Generator gen = at::detail::createCPUGenerator(9);
    return model->Generate(model->AssemblePrefix(cond, torch::Tensor()),
                           model->AssemblePrefix(unc, torch::Tensor()), o, gen);
  };
  torch::Tensor a = run(), b = run();
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_GE(a.min().item<float>(), 0.0f);
  EXPECT_LE(a.max().item<float>(), 1.0f);
}

TEST(MarModelTest, SaveLoadRoundTripAndShapeMismatch) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(t ? t : "/tmp") + "/m.safetensors";
  auto model = MakeModel(5);
  ASSERT_TRUE(SaveModel(*model, path, {{"step", "3"}}).ok());
  auto loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto a = model->named_parameters(), b = (*loaded)->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();

  MarConfig other = Tiny();
  other.enc_dim = 32;
  other.enc_heads = 2;
  auto different = MakeModel(0, other);
  Status s = LoadModelWeights(*different, path);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("has shape"), std::string::npos) << s;
}

TEST(MarModelTest, ConfigValidationNamesTheField) {
  MarConfig c = Tiny();
  c.und_image_size = 12;
  EXPECT_NE(c.Validate().message().find("model.und_image_size"), std::string::npos);
  EXPECT_FALSE(MarPreset("huge", 10).ok());
  auto round = MarConfig::FromMap(Tiny().ToMap());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->ToMap(), Tiny().ToMap());
}

}  // namespace
}  // namespace reca
