#include "reca/flow/flow_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "gtest/gtest.h"
#include "reca/batch.h"
#include "reca/collapse.h"
#include "reca/model_io.h"
#include "reca/model_test_util.h"
#include "reca/objective.h"
#include "reca/tokenizer.h"

namespace reca {
namespace {

FlowConfig Tiny() { return *FlowPreset("tiny", Tokenizer().vocab_size()); }

std::shared_ptr<FlowModel> MakeModel(uint64_t seed = 0, FlowConfig c = Tiny()) {
  torch::manual_seed(seed);
  return std::make_shared<FlowModel>(c);
}

TEST(FlowModelTest, NoiseIsLogitNormalAndShifted) {
  auto model = MakeModel();
  at::Generator gen = at::detail::createCPUGenerator(3);
  NamedTensors n = model->SampleGenerationNoise(2000, gen);
  ASSERT_EQ(n.at("eps").sizes(), (std::vector<int64_t>{2000, 64, 48}));
  torch::Tensor t = n.at("t");
  EXPECT_GT(t.min().item<double>(), 0.0);
  EXPECT_LT(t.max().item<double>(), 1.0);
  EXPECT_NEAR(t.mean().item<double>(), 0.5, 0.02);  // sigmoid(N(0,1)) is symmetric about 1/2
  // logit(t) is standard normal.
  torch::Tensor logit = torch::log(t / (1 - t));
  EXPECT_NEAR(logit.std().item<double>(), 1.0, 0.05);

  FlowConfig c = Tiny();
  c.timestep_shift = 3.0;
  auto shifted = MakeModel(0, c);
  at::Generator gen2 = at::detail::createCPUGenerator(3);
  torch::Tensor ts = shifted->SampleGenerationNoise(2000, gen2).at("t");
  // The same draws, shifted towards t = 1 (more noise) as s t / (1 + (s - 1) t).
  EXPECT_TRUE(torch::allclose(ts, 3 * t / (1 + 2 * t), 1e-5, 1e-6));
}

TEST(FlowModelTest, LossIsVelocityMse) {
  auto model = MakeModel();
  ReconBatch b = ShapesStep(4).recon[0];
  at::Generator gen = at::detail::createCPUGenerator(5);
  NamedTensors noise = model->SampleGenerationNoise(4, gen);
  Prefix prefix = model->AssemblePrefix(b.prompt, model->UnderstandingEmbed(b.images));
  torch::Tensor loss = model->GenerationLoss(prefix, b.images, noise);
  torch::Tensor x0 = Patchify(b.images, 4);
  torch::Tensor t = noise.at("t").reshape({-1, 1, 1});
  torch::Tensor x_t = (1 - t) * x0 + t * noise.at("eps");
  torch::Tensor v = model->Velocity(model->Conditioning(prefix), x_t, noise.at("t"));
  EXPECT_NEAR(loss.item<double>(), (v - (noise.at("eps") - x0)).pow(2).mean().item<double>(), 1e-6);
  // A perfect velocity would give zero loss; an untrained model is far from it.
  EXPECT_GT(loss.item<double>(), 0.5);
}

TEST(FlowModelTest, PaddingAndBatchNeighboursDoNotChangeTheVelocity) {
  auto model = MakeModel(1);
  torch::NoGradGuard no_grad;
  Tokenizer tok;
  ReconBatch b = ShapesStep(3).recon[0];
  torch::Tensor visual = model->UnderstandingEmbed(b.images);
  auto velocity = [&](const std::vector<std::string>& texts, int64_t max_text) {
    PromptIds p = MakePromptIds(tok, texts, max_text);
    Prefix prefix = model->AssemblePrefix(p, visual);
    at::Generator gen = at::detail::createCPUGenerator(9);
    NamedTensors noise = model->SampleGenerationNoise(3, gen);
    torch::Tensor x_t = noise.at("eps") * 0.5;
    return model->Velocity(model->Conditioning(prefix), x_t, noise.at("t"));
  };
  const std::string a = "describe the image.";
  const std::string longer = "describe the image in detail, listing every shape, its colour and position.";
  ASSERT_GT(tok.Encode(longer).size(), tok.Encode(a).size() + 5);
  torch::Tensor v1 = velocity({a, a, a}, 40);
  // Row 0's prompt alone decides row 0: a neighbour's longer prompt, which
  // left-pads row 0's, leaves it unchanged...
  torch::Tensor v2 = velocity({a, longer, a}, 40);
  EXPECT_TRUE(torch::allclose(v1[0], v2[0], 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(v1[2], v2[2], 1e-5, 1e-5));
  // ... while its own prompt matters.
  EXPECT_FALSE(torch::allclose(v1[1], v2[1], 1e-3, 1e-3));
  // And the visual tokens matter.
  PromptIds p = MakePromptIds(tok, {a, a, a}, 40);
  at::Generator gen = at::detail::createCPUGenerator(9);
  NamedTensors noise = model->SampleGenerationNoise(3, gen);
  torch::Tensor other = model->AssemblePrefix(p, visual.roll(1, 0)).embeds;
  Prefix rolled{other, model->AssemblePrefix(p, visual).valid};
  torch::Tensor v3 = model->Velocity(model->Conditioning(rolled), noise.at("eps") * 0.5, noise.at("t"));
  EXPECT_FALSE(torch::allclose(v1[0], v3[0], 1e-3, 1e-3));
}

TEST(FlowModelTest, DefaultFrozenTrainsOnlyTheGenerator) {
  auto model = MakeModel();
  StepBatches step = ShapesStep(4);
  // Unfrozen (pre-training): RecA reaches the understanding side too.
  at::Generator gen = at::detail::createCPUGenerator(2);
  ReconBatch& r = step.recon[0];
  NamedTensors noise = model->SampleGenerationNoise(4, gen);
  model->GenerationLoss(model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images)), r.images, noise)
      .backward();
  EXPECT_EQ(ReachedModules(*model), (std::set<std::string>{"connector", "gen", "und", "vit"}));

  ASSERT_TRUE(FreezeModules(*model, model->DefaultFrozen()).ok());
  torch::Tensor loss =
      model->GenerationLoss(model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images)), r.images, noise);
  loss.backward();
  EXPECT_EQ(ReachedModules(*model), (std::set<std::string>{"gen"}));
  // Captioning reaches nothing trainable when the understanding side is frozen.
  const I2TBatch& c = step.i2t[0];
  EXPECT_FALSE(model->I2TLoss(c.images, c.question, c.captions).requires_grad());

  // The objective says which source is to blame instead of failing in autograd.
  at::Generator g2 = at::detail::createCPUGenerator(2);
  StatusOr<StepLosses> l = AccumulateRecaGradients(*model, step, LossWeights{}, g2, c10::Device(c10::kCPU));
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().ToString().find("i2t"), std::string::npos) << l.status();
  EXPECT_NE(l.status().ToString().find("frozen"), std::string::npos) << l.status();

  // Unknown names are named in the error.
  Status bad = FreezeModules(*model, {"vit", "decoder"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.ToString().find("spec.model.frozen"), std::string::npos);
  EXPECT_NE(bad.ToString().find("'decoder'"), std::string::npos);
  EXPECT_NE(bad.ToString().find("connector"), std::string::npos) << bad;
}

TEST(FlowModelTest, MetaQueriesCarryTheCondition) {
  FlowConfig c = Tiny();
  c.meta_queries = 8;
  auto model = MakeModel(0, c);
  ASSERT_TRUE(FreezeModules(*model, model->DefaultFrozen()).ok());
  ReconBatch r = ShapesStep(4).recon[0];
  at::Generator gen = at::detail::createCPUGenerator(2);
  NamedTensors noise = model->SampleGenerationNoise(4, gen);
  Prefix prefix = model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images));
  model->GenerationLoss(prefix, r.images, noise).backward();
  EXPECT_EQ(ReachedModules(*model), (std::set<std::string>{"gen", "meta", "meta_queries"}));
  // The visual tokens reach the generator only through the queries.
  torch::NoGradGuard no_grad;
  Prefix other{model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images.flip(3))).embeds, prefix.valid};
  torch::Tensor x = noise.at("eps") * 0.5;
  EXPECT_FALSE(torch::allclose(model->Velocity(model->Conditioning(prefix), x, noise.at("t")),
                               model->Velocity(model->Conditioning(other), x, noise.at("t")), 1e-4, 1e-4));
}

TEST(FlowModelTest, FitsOneBatchAndSamples) {
  auto model = MakeModel(4);
  ASSERT_TRUE(FreezeModules(*model, model->DefaultFrozen()).ok());
  ReconBatch r = ShapesStep(8).recon[0];
  const auto [first, last] = FitOneBatch(*model, r, 40);
  EXPECT_LT(last, 0.5 * first) << first << " -> " << last;

  Prefix cond = model->AssemblePrefix(r.prompt, model->UnderstandingEmbed(r.images));
  SampleOptions o;
  o.diffusion_steps = 6;
  o.cfg = 2.0;
  at::Generator g1 = at::detail::createCPUGenerator(1), g2 = at::detail::createCPUGenerator(1);
  torch::Tensor a = model->Generate(cond, cond, o, g1), b = model->Generate(cond, cond, o, g2);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{8, 3, 32, 32}));
  EXPECT_GE(a.min().item<float>(), 0.0f);
  EXPECT_LE(a.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(a, b));
}

// An edit step: sources, targets (the sources rolled by one), instructions.
EditBatch EditStep(int64_t n) {
  ReconBatch r = ShapesStep(n).recon[0];
  EditBatch e;
  e.sources = r.images;
  e.images = r.images.roll(1, 0);
  e.prompt = MakePromptIds(Tokenizer(), std::vector<std::string>(n, "make the circle blue ."), 40);
  e.keep_source = torch::ones({n}, torch::kBool);
  return e;
}

TEST(FlowModelTest, EditsConditionOnTheSourcesLatentsUnlessTheSourceIsDropped) {
  auto model = MakeModel(6);
  torch::NoGradGuard no_grad;
  EditBatch e = EditStep(3);
  Prefix p = model->EditPrefix(e.prompt, e.sources, e.keep_source);
  // BAGEL: the understanding tokens and the generation-side latents.
  ASSERT_TRUE(p.source_latents.defined());
  EXPECT_TRUE(torch::equal(p.source_latents, Patchify(e.sources, 4)));
  EXPECT_EQ(p.embeds.size(1), e.prompt.pre.size(1) + model->NumVisualTokens() + e.prompt.post.size(1));
  at::Generator gen = at::detail::createCPUGenerator(4);
  NamedTensors noise = model->SampleGenerationNoise(3, gen);
  torch::Tensor x_t = noise.at("eps") * 0.5;
  auto velocity = [&](const Prefix& prefix) {
    return model->Velocity(model->Conditioning(prefix), x_t, noise.at("t"));
  };
  const torch::Tensor v = velocity(p);
  // The source's latents alone (same understanding tokens) change the velocity.
  Prefix other_latents = p;
  other_latents.source_latents = p.source_latents.roll(1, 0);
  EXPECT_FALSE(torch::allclose(v, velocity(other_latents), 1e-4, 1e-4));
  // A dropped source (row 1): neither its understanding tokens nor its
  // latents matter; the other rows keep theirs.
  torch::Tensor keep = torch::tensor({true, false, true});
  Prefix dropped = model->EditPrefix(e.prompt, e.sources, keep);
  Prefix dropped_other = model->EditPrefix(e.prompt, e.sources.roll(1, 0), keep);
  const torch::Tensor vd = velocity(dropped), vdo = velocity(dropped_other);
  EXPECT_TRUE(torch::allclose(vd[1], vdo[1], 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(vd[0], vdo[0], 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(vd[0], v[0], 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(vd[1], v[1], 1e-4, 1e-4));
  // OpenUni's meta queries read the understanding tokens only.
  FlowConfig c = Tiny();
  c.meta_queries = 4;
  EXPECT_FALSE(MakeModel(6, c)->EditPrefix(e.prompt, e.sources, e.keep_source).source_latents.defined());
}

TEST(FlowModelTest, LearnsAnEditAndSamplesWithTextAndImageGuidance) {
  auto model = MakeModel(7);
  EditBatch e = EditStep(4);
  StepBatches step;
  step.edit = {e};
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(0));
  at::Generator gen = at::detail::createCPUGenerator(8);
  double first = 0, last = 0;
  for (int i = 0; i < 40; ++i) {
    opt.zero_grad();
    auto losses = AccumulateRecaGradients(*model, step, LossWeights{}, gen, torch::kCPU);
    ASSERT_TRUE(losses.ok()) << losses.status();
    EXPECT_TRUE(std::isnan(losses->recon));
    (i == 0 ? first : last) = losses->edit;
    opt.step();
  }
  EXPECT_LT(last, 0.6 * first) << first << " -> " << last;

  torch::NoGradGuard no_grad;
  SampleOptions o;
  o.diffusion_steps = 6;
  o.cfg = 2.0;
  o.image_cfg = 1.5;
  Tokenizer tok;
  const std::vector<std::string> texts(4, "make the circle blue .");
  at::Generator g1 = at::detail::createCPUGenerator(1), g2 = at::detail::createCPUGenerator(1),
                g3 = at::detail::createCPUGenerator(1);
  torch::Tensor a = GenerateEdits(*model, tok, e.sources, texts, 40, o, g1);
  torch::Tensor b = GenerateEdits(*model, tok, e.sources, texts, 40, o, g2);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(a, b));
  o.image_cfg = 1.0;  // image guidance off: a different sample from the same noise
  EXPECT_FALSE(torch::allclose(a, GenerateEdits(*model, tok, e.sources, texts, 40, o, g3), 1e-3, 1e-3));
  EXPECT_TRUE(model->SupportsImageGuidance());
}

TEST(FlowModelTest, CopyCollapseCheckComparesReconstructionWithTheT2iLevel) {
  auto model = MakeModel(2);
  StepBatches step = ShapesStep(6);
  ReconBatch recon = step.recon[0];
  T2IBatch t2i = step.t2i[0];
  t2i.images = recon.images;  // the same images under captions
  t2i.prompt.pre = t2i.prompt.pre.narrow(0, 0, 6);
  t2i.prompt.post = t2i.prompt.post.narrow(0, 0, 6);
  const c10::Device cpu(c10::kCPU);
  StatusOr<CollapseCheck> own = CheckCopyCollapse(*model, recon, t2i, 0.2, 0, cpu);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_GT(own->recon_loss, 0);
  EXPECT_GT(own->t2i_loss, 0);
  EXPECT_NEAR(own->ratio, own->recon_loss / own->t2i_loss, 1e-12);  // level 0: this check's t2i
  EXPECT_FALSE(own->alarm);  // an untrained model copies nothing
  // Fixed noise: the same numbers again; against a given level, the ratio is to that level.
  StatusOr<CollapseCheck> again = CheckCopyCollapse(*model, recon, t2i, 0.2, 10 * own->t2i_loss, cpu);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->recon_loss, own->recon_loss);
  EXPECT_NEAR(again->ratio, own->recon_loss / (10 * own->t2i_loss), 1e-12);
  EXPECT_EQ(again->alarm, again->ratio < 0.2);
  EXPECT_TRUE(CheckCopyCollapse(*model, recon, t2i, 2 * own->ratio, 0, cpu)->alarm);
}

TEST(FlowModelTest, SavesAndLoadsThroughModelIo) {
  torch::manual_seed(0);
  StatusOr<std::shared_ptr<UnifiedModel>> m = CreateModel("flow", "tiny");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->family(), "flow");
  StatusOr<std::string> bytes = EncodeModel(**m);
  ASSERT_TRUE(bytes.ok());
  StatusOr<std::shared_ptr<UnifiedModel>> back = DecodeModel(*bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->ConfigMap(), (*m)->ConfigMap());
  auto a = (*m)->named_parameters(), b = (*back)->named_parameters();
  for (const auto& p : a) ASSERT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();

  EXPECT_FALSE(CreateModel("flow", "huge").ok());
  StatusOr<std::shared_ptr<UnifiedModel>> bad = CreateModel("dit", "tiny");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("'flow'"), std::string::npos);
  std::map<std::string, std::string> cfg = Tiny().ToMap();
  cfg["und_image_size"] = "12";
  EXPECT_NE(FlowConfig::FromMap(cfg).status().ToString().find("model.und_image_size"), std::string::npos);
  cfg.erase("und_image_size");
  EXPECT_NE(FlowConfig::FromMap(cfg).status().ToString().find("missing und_image_size"), std::string::npos);
}

}  // namespace
}  // namespace reca
