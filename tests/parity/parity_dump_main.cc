// reca-parity-dump: the C++ side of the Python parity test (check_parity.py).
//
// Builds a model of --family (mar or flow; the "tiny" preset by default) from a fixed seed, takes two AdamW steps on
// shapes-world data (so that the zero-initialised AdaLN and output layers of
// the diffusion head are non-zero and gradients flow through every layer),
// then builds one batch of each RecA source, draws the generation noise and
// computes each loss separately with its backward pass. Writes into --out_dir:
//
//   weights.safetensors   SaveModel (config in the metadata)
//   inputs.safetensors    <src>.images/.pre/.post[/.captions], <src>.noise.<key> (the
//                         family's noise: mar mask/t/eps, flow t/eps),
//                         dtype_check.<DTYPE> (one small tensor per safetensors dtype)
//   expected.safetensors  <src>.loss (0-d), <src>.visual (recon/i2t understanding
//                         tokens), <src>.grad.<param> for every parameter the loss reaches
//
// with <src> in recon, i2t, t2i. Every loss is a pure function of (weights,
// inputs, noise), so bench/python/reca_mar.py (reca_flow.py) must reproduce it exactly.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/types.h>

#include "reca/batch.h"
#include "reca/cli_args.h"
#include "reca/data_pipeline.h"
#include "reca/file_util.h"
#include "reca/job_spec.h"
#include "reca/model_io.h"
#include "reca/objective.h"
#include "reca/optim.h"
#include "reca/safetensors.h"
#include "reca/status.h"
#include "reca/tokenizer.h"
#include "reca/torch_guard.h"

namespace {

constexpr const char* kUsage = R"(usage: reca-parity-dump --out_dir=DIR [--family=mar|flow|maskgit] [--config=KEY=VALUE,...] [--seed=N] [--threads=N] [--preset=tiny|medium]
Writes weights/inputs/expected safetensors for tests/parity/check_parity.py.
)";

using TensorMap = std::map<std::string, at::Tensor>;

// Recon prompts: one text-dropped sample and templates of different token
// lengths, so that left padding of `post` is exercised.
std::vector<std::string> ReconTexts(const reca::Tokenizer& tok, int64_t batch) {
  const std::vector<std::string>& templates = reca::ReconTemplates();
  size_t shortest = 0, longest = 0;
  for (size_t i = 0; i < templates.size(); ++i) {
    const size_t n = tok.Encode(templates[i]).size();
    if (n < tok.Encode(templates[shortest]).size()) shortest = i;
    if (n > tok.Encode(templates[longest]).size()) longest = i;
  }
  std::vector<std::string> texts = {reca::kUncondPrompt, templates[longest], templates[shortest]};
  for (int64_t i = 3; i < batch; ++i) texts.push_back(templates[(7 * i) % templates.size()]);
  texts.resize(batch);
  return texts;
}

// Runs `loss_fn`, back-propagates and records the loss and every defined
// parameter gradient under `src`; clears the gradients afterwards.
template <typename F>
void RecordLoss(reca::UnifiedModel& model, const std::string& src, F&& loss_fn, TensorMap* out) {
  torch::Tensor loss = loss_fn();
  loss.backward();
  (*out)[src + ".loss"] = loss.detach().clone();
  for (auto& p : model.named_parameters()) {
    torch::Tensor& g = p.value().mutable_grad();
    if (!g.defined()) continue;
    (*out)[src + ".grad." + p.key()] = g.detach().clone();
    g = torch::Tensor();
  }
}

void PutNoise(const std::string& src, const reca::NamedTensors& noise, TensorMap* inputs) {
  for (const auto& [k, v] : noise) (*inputs)[src + ".noise." + k] = v;
}

reca::Status Run(int argc, char** argv) {
  RECA_ASSIGN_OR_RETURN(reca::CliArgs args, reca::CliArgs::Parse(argc, argv));
  std::string out_dir;
  uint64_t seed = 0;
  int threads = 1;
  std::string preset = "tiny", family = "mar";
  RECA_RETURN_IF_ERROR(args.Get("out_dir", &out_dir));
  RECA_RETURN_IF_ERROR(args.Get("family", &family));
  std::string config;  // preset overrides, e.g. meta_queries=8
  RECA_RETURN_IF_ERROR(args.Get("config", &config));
  std::vector<std::string> entries;
  for (size_t a = 0; a < config.size();) {
    const size_t e = std::min(config.find(',', a), config.size());
    entries.push_back(config.substr(a, e - a));
    a = e + 1;
  }
  RECA_ASSIGN_OR_RETURN(const auto overrides, reca::ParseConfigEntries(entries, "--config"));
  RECA_RETURN_IF_ERROR(args.Get("preset", &preset));
  RECA_RETURN_IF_ERROR(args.Get("seed", &seed));
  RECA_RETURN_IF_ERROR(args.Get("threads", &threads));
  RECA_RETURN_IF_ERROR(args.CheckAllUsed());
  if (out_dir.empty()) return reca::InvalidArgumentError(std::string("--out_dir is required\n") + kUsage);
  if (threads < 1) return reca::InvalidArgumentError("--threads: must be >= 1");
  RECA_RETURN_IF_ERROR(reca::MakeDirs(out_dir));

  const reca::Tokenizer tok;
  TensorMap inputs, expected;
  at::set_num_threads(threads);
  torch::manual_seed(seed);
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<reca::UnifiedModel> model, reca::CreateModel(family, preset, overrides));
  const std::map<std::string, std::string> cfg = model->ConfigMap();
  const int64_t image_size = std::stoll(cfg.at("image_size"));
  const int64_t max_text_tokens = std::stoll(cfg.at("max_text_tokens"));

  // Two AdamW steps on a full RecA step (recon + i2t + t2i), large learning
  // rate, so every parameter moves away from its (partly zero) initialisation.
  reca::JobSpec data = reca::ShapesSpec(1, 1, 1, /*batch=*/4, /*cfg_drop=*/0.3, seed);
  data.reca.max_text_tokens = max_text_tokens;
  RECA_ASSIGN_OR_RETURN(std::vector<reca::StepBatches> shapes,
                        reca::BuildSteps(data, static_cast<int>(image_size), 6));
  {
    reca::OptimOptions o;
    o.lr = 1e-2;
    o.total_steps = 2;
    RECA_RETURN_IF_ERROR(o.Validate());
    reca::Optimizer opt(*model, o);
    at::Generator gen = at::detail::createCPUGenerator(seed + 100);
    for (int64_t step = 0; step < 2; ++step) {
      RECA_ASSIGN_OR_RETURN(reca::StepLosses l,
                            reca::AccumulateRecaGradients(*model, shapes[step], reca::LossWeights{}, gen,
                                                          c10::Device(c10::kCPU)));
      RECA_ASSIGN_OR_RETURN(double norm, opt.Step(step));
      std::cout << "warm-up step " << step << ": loss " << l.total << ", grad norm " << norm << "\n";
    }
  }

  // The parity batches: images from a later step, prompts as described above.
  const reca::StepBatches step = shapes[5];
  reca::ReconBatch recon = step.recon[0];
  recon.prompt = reca::MakePromptIds(tok, ReconTexts(tok, recon.images.size(0)), max_text_tokens);
  const reca::I2TBatch& i2t = step.i2t[0];
  // Three samples only: a batch size different from the others.
  reca::T2IBatch t2i = step.t2i[0];
  RECA_RETURN_IF_ERROR(reca::TorchGuard("slicing the t2i batch", [&] {
    t2i.images = t2i.images.narrow(0, 0, 3).contiguous();
    t2i.prompt.pre = t2i.prompt.pre.narrow(0, 0, 3).contiguous();
    t2i.prompt.post = t2i.prompt.post.narrow(0, 0, 3).contiguous();
  }));

  RECA_RETURN_IF_ERROR(reca::TorchGuard("computing the losses", [&] {
    inputs["recon.images"] = recon.images;
    inputs["recon.pre"] = recon.prompt.pre;
    inputs["recon.post"] = recon.prompt.post;
    inputs["i2t.images"] = i2t.images;
    inputs["i2t.pre"] = i2t.question.pre;
    inputs["i2t.post"] = i2t.question.post;
    inputs["i2t.captions"] = i2t.captions;
    inputs["t2i.images"] = t2i.images;
    inputs["t2i.pre"] = t2i.prompt.pre;
    inputs["t2i.post"] = t2i.prompt.post;
    // One small tensor per safetensors dtype, for the Python reader.
    const torch::Tensor base = torch::arange(-3, 3, torch::kFloat64).view({2, 3}) * 1.5;
    inputs["dtype_check.F64"] = base;
    inputs["dtype_check.F32"] = base.to(torch::kFloat32);
    inputs["dtype_check.F16"] = base.to(torch::kFloat16);
    inputs["dtype_check.BF16"] = base.to(torch::kBFloat16);
    inputs["dtype_check.I64"] = torch::arange(-3, 3, torch::kInt64).view({2, 3}) * int64_t{1000000007};
    inputs["dtype_check.I32"] = torch::arange(-3, 3, torch::kInt32).view({2, 3}) * 100003;
    inputs["dtype_check.I16"] = torch::arange(-3, 3, torch::kInt16).view({2, 3}) * 1001;
    inputs["dtype_check.I8"] = torch::arange(-3, 3, torch::kInt8).view({2, 3}) * 40;
    inputs["dtype_check.U8"] = torch::arange(0, 6, torch::kUInt8).view({2, 3}) * 50;
    inputs["dtype_check.BOOL"] = torch::arange(0, 6, torch::kInt64).view({2, 3}).remainder(2).eq(0);
    inputs["dtype_check.scalar"] = torch::tensor(2.5, torch::kFloat32).reshape({});
    inputs["dtype_check.empty"] = torch::zeros({0, 4}, torch::kFloat32);

    at::Generator gen = at::detail::createCPUGenerator(seed + 200);
    const reca::NamedTensors recon_noise = model->SampleGenerationNoise(recon.images.size(0), gen);
    const reca::NamedTensors t2i_noise = model->SampleGenerationNoise(t2i.images.size(0), gen);
    PutNoise("recon", recon_noise, &inputs);
    PutNoise("t2i", t2i_noise, &inputs);

    for (auto& p : model->named_parameters()) p.value().mutable_grad() = torch::Tensor();
    RecordLoss(*model, "recon", [&] {
      torch::Tensor visual = model->UnderstandingEmbed(recon.images);
      expected["recon.visual"] = visual.detach().clone();
      return model->GenerationLoss(model->AssemblePrefix(recon.prompt, visual), recon.images,
                                   recon_noise);
    }, &expected);
    RecordLoss(*model, "i2t", [&] {
      expected["i2t.visual"] = model->UnderstandingEmbed(i2t.images).detach().clone();
      return model->I2TLoss(i2t.images, i2t.question, i2t.captions);
    }, &expected);
    RecordLoss(*model, "t2i", [&] {
      return model->T2ILoss(t2i.prompt, t2i.images, t2i_noise);
    }, &expected);
  }));

  RECA_RETURN_IF_ERROR(reca::SaveModel(*model, out_dir + "/weights.safetensors"));
  RECA_RETURN_IF_ERROR(reca::WriteSafetensors(out_dir + "/inputs.safetensors", inputs,
                                              {{"seed", std::to_string(seed)}}));
  RECA_RETURN_IF_ERROR(reca::WriteSafetensors(out_dir + "/expected.safetensors", expected,
                                              {{"threads", std::to_string(threads)}}));
  for (const char* src : {"recon", "i2t", "t2i"}) {
    std::cout << src << " loss " << expected.at(std::string(src) + ".loss").item<double>() << "\n";
  }
  std::cout << "wrote " << inputs.size() << " inputs and " << expected.size() << " expected tensors to "
            << out_dir << "\n";
  return reca::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  // Run guards its LibTorch calls step by step; this catches anything left
  // (data building, map lookups) so that every failure is a Status.
  const reca::Status s = reca::TorchGuard("reca-parity-dump", [&] { return Run(argc, argv); });
  if (!s.ok()) {
    std::cerr << "reca-parity-dump: " << s << "\n";
    return 1;
  }
  return 0;
}
