// The copy-collapse detector (reca-method.md §6: "recon loss falling far
// below the T2I loss level"). Without an information bottleneck between the
// condition and the target, RecA teaches the generator to copy its
// condition: the reconstruction loss falls towards zero, far below the
// family's ordinary generation-loss level (text-to-image on the same
// held-out images). The detector measures both on a fixed held-out batch with
// fixed noise; the level is the text-to-image loss when the run started (so
// that a model forgetting text-to-image, which raises the current t2i loss,
// is not mistaken for one copying), and the alarm goes off when
// recon / level drops below a threshold.
#ifndef RECA_COLLAPSE_H_
#define RECA_COLLAPSE_H_

#include <limits>
#include <ostream>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "reca/batch.h"
#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

struct CollapseCheck {
  double recon_loss = 0;  // conditioned on each image's own understanding embedding
  double t2i_loss = 0;    // conditioned on its dense caption only
  double ratio = 0;       // recon_loss / the reference t2i level
  bool alarm = false;     // ratio < threshold
};

// Both losses without gradients, each batch under the same fixed noise.
// `recon` and `t2i` must hold the same images. `t2i_level` is the reference
// generation-loss level (<= 0: this check's own t2i loss).
StatusOr<CollapseCheck> CheckCopyCollapse(UnifiedModel& model, const ReconBatch& recon,
                                          const T2IBatch& t2i, double threshold, double t2i_level,
                                          const c10::Device& device);

// The detector over a training run: the reference level, the latest check,
// log lines when the alarm goes on or off and when text-to-image drifts.
class CollapseMonitor {
 public:
  // `level` > 0: a resumed job's level (from its checkpoint); 0: measure it.
  CollapseMonitor(const ReconBatch& recon, const T2IBatch& t2i, double threshold, double level,
                  const c10::Device& device)
      : recon_(recon), t2i_(t2i), threshold_(threshold), level_(level), resumed_(level > 0), device_(device) {}

  // Before the first step: measures the level unless resumed, logs it.
  Status Start(UnifiedModel& model, std::ostream& log);
  // A check after `step`; adds its fields to the metrics `line`.
  Status Check(UnifiedModel& model, int64_t step, nlohmann::ordered_json* line, std::ostream& log);

  double level() const { return level_; }
  double last_ratio() const { return last_ratio_; }  // NaN before the first check

 private:
  const ReconBatch& recon_;
  const T2IBatch& t2i_;
  double threshold_, level_;
  bool resumed_;
  c10::Device device_;
  bool alarm_ = false, drift_logged_ = false;
  double last_ratio_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace reca

#endif  // RECA_COLLAPSE_H_
