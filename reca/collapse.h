// The copy-collapse detector (reca-method.md §6: "recon loss falling far
// below the T2I loss level"). Without an information bottleneck between the
// condition and the target, RecA teaches the generator to copy its
// condition: the reconstruction loss falls towards zero while the family's
// ordinary generation loss (text-to-image on the same held-out images) stays
// where it was. The detector compares the two on a fixed held-out batch with
// fixed noise and raises an alarm when recon / t2i drops below a threshold.
#ifndef RECA_COLLAPSE_H_
#define RECA_COLLAPSE_H_

#include <c10/core/Device.h>

#include "reca/batch.h"
#include "reca/status.h"
#include "reca/unified_model.h"

namespace reca {

struct CollapseCheck {
  double recon_loss = 0;  // conditioned on each image's own understanding embedding
  double t2i_loss = 0;    // conditioned on its dense caption only
  double ratio = 0;       // recon_loss / t2i_loss
  bool alarm = false;     // ratio < threshold
};

// Both losses without gradients, each batch under the same fixed noise.
// `recon` and `t2i` must hold the same images.
StatusOr<CollapseCheck> CheckCopyCollapse(UnifiedModel& model, const ReconBatch& recon,
                                          const T2IBatch& t2i, double threshold,
                                          const c10::Device& device);

}  // namespace reca

#endif  // RECA_COLLAPSE_H_
