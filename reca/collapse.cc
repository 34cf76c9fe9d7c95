#include "reca/collapse.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>

#include "reca/torch_guard.h"

namespace reca {

StatusOr<CollapseCheck> CheckCopyCollapse(UnifiedModel& model, const ReconBatch& recon,
                                          const T2IBatch& t2i, double threshold, double t2i_level,
                                          const c10::Device& device) {
  return TorchGuardOr("copy-collapse check", [&]() -> CollapseCheck {
    torch::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(0xc0117a95eull);
    const NamedTensors noise = model.SampleGenerationNoise(recon.images.size(0), gen);
    torch::Tensor images = recon.images.to(device);
    CollapseCheck c;
    Prefix own = model.AssemblePrefix({recon.prompt.pre.to(device), recon.prompt.post.to(device)},
                                      model.UnderstandingEmbed(images));
    c.recon_loss = model.GenerationLoss(own, images, noise).item<double>();
    c.t2i_loss =
        model.T2ILoss({t2i.prompt.pre.to(device), t2i.prompt.post.to(device)}, t2i.images.to(device), noise)
            .item<double>();
    const double level = t2i_level > 0 ? t2i_level : c.t2i_loss;
    c.ratio = level > 0 ? c.recon_loss / level : 1.0;
    c.alarm = c.ratio < threshold;
    return c;
  });
}

}  // namespace reca
