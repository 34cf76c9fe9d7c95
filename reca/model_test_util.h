// Helpers shared by the model families' unit tests (testonly).
#ifndef RECA_MODEL_TEST_UTIL_H_
#define RECA_MODEL_TEST_UTIL_H_

#include <ATen/CPUGeneratorImpl.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/adamw.h>

#include "gtest/gtest.h"
#include "reca/batch.h"
#include "reca/data_pipeline.h"
#include "reca/unified_model.h"

namespace reca {

// Step `step` of a shapes-world spec with one batch of each source (32x32).
inline StepBatches ShapesStep(int64_t batch, int64_t step = 3) {
  StatusOr<std::vector<StepBatches>> steps = BuildSteps(ShapesSpec(1, 1, 1, batch, 0.1), 32, step + 1);
  EXPECT_TRUE(steps.ok()) << steps.status();
  return steps->back();
}

// The top-level modules whose parameters got a non-zero gradient; clears
// every gradient.
inline std::set<std::string> ReachedModules(UnifiedModel& m) {
  std::set<std::string> out;
  for (auto& p : m.named_parameters()) {
    const torch::Tensor& g = p.value().grad();
    if (g.defined() && g.abs().sum().item<double>() > 0) out.insert(p.key().substr(0, p.key().find('.')));
    p.value().mutable_grad() = torch::Tensor();
  }
  return out;
}

// AdamW (lr 2e-3) on the trainable parameters for `steps` steps of `r`'s
// reconstruction loss under one fixed noise draw: {first loss, last loss}.
inline std::pair<double, double> FitOneBatch(UnifiedModel& model, const ReconBatch& r, int steps) {
  std::vector<torch::Tensor> params;
  for (auto& p : model.parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(2e-3).weight_decay(0));
  at::Generator gen = at::detail::createCPUGenerator(11);
  const NamedTensors noise = model.SampleGenerationNoise(r.images.size(0), gen);
  double first = 0, last = 0;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    torch::Tensor loss = model.GenerationLoss(
        model.AssemblePrefix(r.prompt, model.UnderstandingEmbed(r.images)), r.images, noise);
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item<double>();
  }
  return {first, last};
}

}  // namespace reca

#endif  // RECA_MODEL_TEST_UTIL_H_
