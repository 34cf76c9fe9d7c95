#include "reca/collapse.h"

#include <iomanip>
#include <sstream>

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

namespace {
std::string Fixed(double v, int precision) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}
}  // namespace

Status CollapseMonitor::Start(UnifiedModel& model, std::ostream& log) {
  RECA_ASSIGN_OR_RETURN(CollapseCheck c, CheckCopyCollapse(model, recon_, t2i_, threshold_, level_, device_));
  if (level_ <= 0) level_ = c.t2i_loss;
  log << "collapse detector: held-out text-to-image level " << Fixed(level_, 4)
      << (resumed_ ? " (from the checkpoint)" : "") << ", now: text-to-image " << Fixed(c.t2i_loss, 4)
      << ", reconstruction " << Fixed(c.recon_loss, 4) << "; alarm when reconstruction < " << threshold_
      << "x the level\n";
  return OkStatus();
}

Status CollapseMonitor::Check(UnifiedModel& model, int64_t step, nlohmann::ordered_json* line,
                              std::ostream& log) {
  RECA_ASSIGN_OR_RETURN(CollapseCheck c, CheckCopyCollapse(model, recon_, t2i_, threshold_, level_, device_));
  if (c.t2i_loss > 1.5 * level_ && !drift_logged_) {
    drift_logged_ = true;
    log << "warning at step " << step << ": the held-out text-to-image loss rose from " << Fixed(level_, 4)
        << " to " << Fixed(c.t2i_loss, 4)
        << ": the model is forgetting text-to-image generation (add a t2i source, lower optimizer.lr or "
           "freeze more)\n";
  }
  (*line)["heldout_recon_loss"] = c.recon_loss;
  (*line)["heldout_t2i_loss"] = c.t2i_loss;
  (*line)["collapse_ratio"] = c.ratio;
  (*line)["collapse_t2i_level"] = level_;
  (*line)["collapse_alarm"] = c.alarm ? 1 : 0;
  if (c.alarm && !alarm_) {
    log << "COLLAPSE ALARM at step " << step << ": held-out reconstruction loss " << Fixed(c.recon_loss, 4)
        << " is " << Fixed(c.ratio, 3) << "x the model's text-to-image level " << Fixed(level_, 4)
        << " (alarm below " << threshold_
        << "): the generator is copying its condition instead of reading it; strengthen the bottleneck "
           "(a lower model.und_image_size, reca.condition_blur) or stop the job\n";
  } else if (!c.alarm && alarm_) {
    log << "collapse alarm cleared at step " << step << " (recon/t2i " << Fixed(c.ratio, 3) << ")\n";
  }
  alarm_ = c.alarm;
  last_ratio_ = c.ratio;
  return OkStatus();
}

}  // namespace reca
