// Turning shapes-world samples into model batches for the three RecA data
// sources, deterministically from (seed, step) so that any step's data can
// be rebuilt on resume without saved iterator state.
#ifndef RECA_BATCH_H_
#define RECA_BATCH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "reca/shapes_world.h"
#include "reca/status.h"
#include "reca/tokenizer.h"
#include "reca/unified_model.h"

namespace reca {

// Per-step repeat counts of each source (gradient accumulation over all of
// them) and loss weights: L = sum_s w_s * mean over repeats-of-s batches.
struct SourceMix {
  int64_t recon = 2, i2t = 2, t2i = 0;
  double recon_weight = 1.0, i2t_weight = 1.0, t2i_weight = 1.0;
  int64_t total() const { return recon + i2t + t2i; }
};

struct ReconBatch {
  at::Tensor images;  // [B, 3, H, W] float in [0, 1]
  PromptIds prompt;   // <user> [visual] template <assistant>
};
struct I2TBatch {
  at::Tensor images;
  PromptIds question;  // <user> [visual] question <assistant>
  at::Tensor captions;  // [B, Lc], right-padded, ends with <eos>
};
struct T2IBatch {
  at::Tensor images;
  PromptIds prompt;  // <user> "generate an image : caption" <assistant>
};

// Everything one optimizer step consumes.
struct StepBatches {
  std::vector<ReconBatch> recon;
  std::vector<I2TBatch> i2t;
  std::vector<T2IBatch> t2i;
  int64_t samples() const;
};

// uint8 HWC RGB images (all size x size) -> [B, 3, size, size] float in [0, 1].
at::Tensor ImagesToTensor(const std::vector<std::vector<uint8_t>>& images, int64_t size);
// [B, 3, H, W] float in [0, 1] -> uint8 HWC RGB images.
std::vector<std::vector<uint8_t>> TensorToImages(const at::Tensor& images);

// pre = [<user>], post = tokens(text) (truncated to max_tokens - 1) + <assistant>,
// left-padded to the longest in the batch.
PromptIds MakePromptIds(const Tokenizer& tok, const std::vector<std::string>& texts,
                        int64_t max_tokens);
// tokens(caption) (truncated to max_tokens - 1) + <eos>, right-padded.
at::Tensor MakeCaptionIds(const Tokenizer& tok, const std::vector<std::string>& captions,
                          int64_t max_tokens);

struct ShapesDataOptions {
  uint64_t seed = 0;
  int64_t image_size = 32;
  int64_t batch = 16;  // per source batch
  bool dense_captions = false;  // captions of i2t/t2i; sparse by default
  double cfg_drop = 0.1;        // text-drop probability for recon and t2i prompts
  int64_t max_text_tokens = 40;
  SourceMix mix;
};

// The shapes world as a source of StepBatches. Thread-safe (stateless).
class ShapesStepData {
 public:
  explicit ShapesStepData(ShapesDataOptions options);
  StepBatches Build(int64_t step) const;
  const ShapesDataOptions& options() const { return options_; }

 private:
  ShapesDataOptions options_;
  Tokenizer tok_;
  ShapesWorld recon_world_, caption_world_;
};

// Recorded steps as named tensors ("<step>.<source>.<j>.<field>", fields
// images/pre/post/captions) for replay by the benchmark and by the Python
// reference (bench/python/reca_mar.py reads the same names).
std::map<std::string, at::Tensor> EncodeStepBatches(const std::vector<StepBatches>& steps);
StatusOr<std::vector<StepBatches>> DecodeStepBatches(const std::map<std::string, at::Tensor>& t,
                                                     const std::string& name_for_errors);

}  // namespace reca

#endif  // RECA_BATCH_H_
