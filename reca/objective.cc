#include "reca/objective.h"

#include <cmath>
#include <limits>

#include <torch/autograd.h>

#include "reca/torch_guard.h"

#if defined(RECA_WITH_CUDA)
#include <ATen/autocast_mode.h>
#include <torch/version.h>
// LibTorch >= 2.4 takes the device type (the old calls print deprecation warnings).
#define RECA_AUTOCAST_BY_DEVICE \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
#endif

namespace reca {
namespace {

PromptIds To(const PromptIds& p, const c10::Device& d) { return {p.pre.to(d), p.post.to(d)}; }

#if defined(RECA_WITH_CUDA)
struct AutocastScope {
  explicit AutocastScope(bool on) : on_(on) {
    if (on_) {
#if RECA_AUTOCAST_BY_DEVICE
      at::autocast::set_autocast_enabled(at::kCUDA, true);
      at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
    }
  }
  ~AutocastScope() {
    if (on_) {
      at::autocast::clear_cache();
#if RECA_AUTOCAST_BY_DEVICE
      at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
      at::autocast::set_enabled(false);
#endif
    }
  }
  bool on_;
};
#else
struct AutocastScope {
  explicit AutocastScope(bool) {}
};
#endif

}  // namespace

StatusOr<StepLosses> AccumulateRecaGradients(UnifiedModel& model, const StepBatches& step,
                                             const LossWeights& weights, at::Generator& gen,
                                             const c10::Device& device, bool bf16,
                                             const std::function<void()>& before_last_backward) {
  if (bf16 && !device.is_cuda()) {
    return InvalidArgumentError("train.bf16: bfloat16 autocast needs a CUDA device");
  }
  return TorchGuardOr("RecA step", [&]() -> StatusOr<StepLosses> {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    StepLosses out{nan, nan, nan, nan, 0.0, 0.0, step.samples(), {}};
    const size_t batches = step.recon.size() + step.i2t.size() + step.t2i.size() + step.edit.size();
    const double denom = static_cast<double>(batches);
    if (denom == 0) return InvalidArgumentError("sources: the step has no batches (all repeats are 0)");
    size_t remaining = batches;
    auto run = [&](const torch::Tensor& loss, double weight, double* mean, size_t n, int source,
                   const char* task) {
      if (!loss.requires_grad()) {
        // A spec error (INVALID_ARGUMENT through the guard), not an autograd failure.
        TORCH_CHECK_VALUE(false, "spec.data.sources[", source, "] (", task,
                          "): its loss reaches no trainable parameter (spec.model.frozen freezes "
                          "everything it uses); drop the source or unfreeze a module it uses");
      }
      torch::Tensor scaled = loss.to(torch::kFloat32) * (weight / denom);
      if (--remaining == 0 && before_last_backward) before_last_backward();
      scaled.backward();
      const double v = loss.item<double>();
      out.per_batch.emplace_back(source, v);
      *mean = (std::isnan(*mean) ? 0.0 : *mean) + v / static_cast<double>(n);
      out.total += v * weight / denom;
    };
    for (const ReconBatch& b : step.recon) {
      torch::Tensor images = b.images.to(device);
      NamedTensors noise = b.noise.rows.empty() ? model.SampleGenerationNoise(images.size(0), gen)
                                                : model.SampleGenerationNoise(b.noise);
      AutocastScope autocast(bf16);
      const torch::Tensor condition = b.condition.defined() ? b.condition.to(device) : images;
      Prefix prefix = model.AssemblePrefix(To(b.prompt, device), model.UnderstandingEmbed(condition));
      out.forward_flops += model.UnderstandingForwardFlops(images.size(0)) +
                           model.GenerationForwardFlops(images.size(0), prefix.embeds.size(1));
      run(model.GenerationLoss(prefix, images, noise), weights.recon, &out.recon, step.recon.size(), b.source,
          "recon");
    }
    for (const I2TBatch& b : step.i2t) {
      torch::Tensor images = b.images.to(device);
      AutocastScope autocast(bf16);
      torch::Tensor loss = model.I2TLoss(images, To(b.question, device), b.captions.to(device));
      const int64_t prefix_len =
          b.question.pre.size(1) + model.NumVisualTokens() + b.question.post.size(1);
      out.forward_flops += model.I2TForwardFlops(images.size(0), prefix_len, b.captions.size(1));
      run(loss, weights.i2t, &out.i2t, step.i2t.size(), b.source, "i2t");
    }
    for (const T2IBatch& b : step.t2i) {
      torch::Tensor images = b.images.to(device);
      NamedTensors noise = b.noise.rows.empty() ? model.SampleGenerationNoise(images.size(0), gen)
                                                : model.SampleGenerationNoise(b.noise);
      AutocastScope autocast(bf16);
      PromptIds prompt = To(b.prompt, device);
      out.forward_flops +=
          model.GenerationForwardFlops(images.size(0), prompt.pre.size(1) + prompt.post.size(1));
      run(model.T2ILoss(prompt, images, noise), weights.t2i, &out.t2i, step.t2i.size(), b.source, "t2i");
    }
    for (const EditBatch& b : step.edit) {
      torch::Tensor images = b.images.to(device);
      NamedTensors noise = b.noise.rows.empty() ? model.SampleGenerationNoise(images.size(0), gen)
                                                : model.SampleGenerationNoise(b.noise);
      AutocastScope autocast(bf16);
      Prefix prefix = model.EditPrefix(To(b.prompt, device), b.sources.to(device),
                                       b.keep_source.defined() ? b.keep_source.to(device) : at::Tensor());
      // The source's latents (where the family reads them) cost about one
      // more generation pass.
      const int64_t n = images.size(0), len = prefix.embeds.size(1);
      out.forward_flops += model.UnderstandingForwardFlops(n) + model.GenerationForwardFlops(n, len) *
                                                                    (prefix.source_latents.defined() ? 2 : 1);
      run(model.GenerationLoss(prefix, images, noise), weights.edit, &out.edit, step.edit.size(), b.source,
          "edit");
    }
    return out;
  });
}

StatusOr<double> ReconstructionLoss(UnifiedModel& model, const ReconBatch& batch,
                                    at::Generator& gen, const c10::Device& device,
                                    const at::Tensor& condition_images) {
  return TorchGuardOr("reconstruction loss", [&]() -> double {
    torch::NoGradGuard no_grad;
    torch::Tensor images = batch.images.to(device);
    torch::Tensor condition = condition_images.defined() ? condition_images.to(device) : images;
    NamedTensors noise = model.SampleGenerationNoise(images.size(0), gen);
    Prefix prefix = model.AssemblePrefix(To(batch.prompt, device), model.UnderstandingEmbed(condition));
    return model.GenerationLoss(prefix, images, noise).item<double>();
  });
}

}  // namespace reca
