// The model batches of the RecA streams (reconstruction, captioning,
// text-to-image, and image editing) and their tokenisation;
// reca/data_pipeline.h fills them.
#ifndef RECA_BATCH_H_
#define RECA_BATCH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "reca/status.h"
#include "reca/tokenizer.h"
#include "reca/unified_model.h"

namespace reca {

// Loss weights of the streams: L = sum over a step's batches of
// w_stream * loss / number of batches.
struct LossWeights {
  double recon = 1.0, i2t = 1.0, t2i = 1.0, edit = 1.0;
};

// `source` indexes the job's sources (loss per source); `noise` seeds the
// generation loss (empty rows: the caller's generator).
struct ReconBatch {
  at::Tensor images;  // [B, 3, H, W] float in [0, 1]
  PromptIds prompt;   // <user> [visual] template <assistant>
  int source = 0;
  NoiseSeeds noise;
  at::Tensor condition;  // what the understanding encoder sees; undefined = images
};
struct I2TBatch {
  at::Tensor images;
  PromptIds question;  // <user> [visual] question <assistant>
  at::Tensor captions;  // [B, Lc], right-padded, ends with <eos>
  int source = 0;
};
struct T2IBatch {
  at::Tensor images;
  PromptIds prompt;  // <user> "generate an image : caption" <assistant>
  int source = 0;
  NoiseSeeds noise;
};

// Image editing: the generation loss of `images` (the targets) under
// UnifiedModel::EditPrefix(prompt, sources, keep_source).
struct EditBatch {
  at::Tensor images;   // [B, 3, H, W] targets in [0, 1]
  at::Tensor sources;  // [B, 3, H, W] the images before the edit
  PromptIds prompt;    // <user> [source] instruction <assistant>
  at::Tensor keep_source;  // [B] bool: false = the source is dropped (image CFG)
  int source = 0;
  NoiseSeeds noise;
};

// Everything one optimizer step consumes.
struct StepBatches {
  std::vector<ReconBatch> recon;
  std::vector<I2TBatch> i2t;
  std::vector<T2IBatch> t2i;
  std::vector<EditBatch> edit;
  int64_t samples() const;
};

// uint8 HWC RGB images (all size x size) -> [B, 3, size, size] float in [0, 1].
at::Tensor ImagesToTensor(const std::vector<std::vector<uint8_t>>& images, int64_t size);
// [B, 3, H, W] float in [0, 1] -> uint8 HWC RGB images.
std::vector<std::vector<uint8_t>> TensorToImages(const at::Tensor& images);

// Gaussian blur of [B, 3, H, W] images (sigma in pixels, kernel 2 ceil(3 sigma)
// + 1, reflected borders): reca.condition_blur's bottleneck.
at::Tensor GaussianBlur(const at::Tensor& images, double sigma);

// pre = [<user>], post = tokens(text) (truncated to max_tokens - 1) + <assistant>,
// left-padded to the longest in the batch.
PromptIds MakePromptIds(const Tokenizer& tok, const std::vector<std::string>& texts,
                        int64_t max_tokens);
// tokens(caption) (truncated to max_tokens - 1) + <eos>, right-padded.
at::Tensor MakeCaptionIds(const Tokenizer& tok, const std::vector<std::string>& captions,
                          int64_t max_tokens);

// Edits `sources` ([B, 3, H, W] in [0, 1], on the model's device) by one
// instruction per row with the model's GenerateEdit: under the instruction
// and the source, guided against the source without the instruction (text)
// and the instruction without the source (image, options.image_cfg).
at::Tensor GenerateEdits(UnifiedModel& model, const Tokenizer& tok, const at::Tensor& sources,
                         const std::vector<std::string>& instructions, int64_t max_text_tokens,
                         const SampleOptions& options, at::Generator& gen);

// Recorded steps as named tensors ("<step>.<source>.<j>.<field>", fields
// images/pre/post/captions, condition where a recon batch has one, sources
// and keep_source for edit batches) for replay by the benchmark and by the Python
// reference (bench/python/reca_mar.py reads the same names).
std::map<std::string, at::Tensor> EncodeStepBatches(const std::vector<StepBatches>& steps);
StatusOr<std::vector<StepBatches>> DecodeStepBatches(const std::map<std::string, at::Tensor>& t,
                                                     const std::string& name_for_errors);

}  // namespace reca

#endif  // RECA_BATCH_H_
