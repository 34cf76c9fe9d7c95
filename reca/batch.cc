#include "reca/batch.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "reca/rng.h"

namespace reca {
namespace {

// Encodes each text (truncated to max_tokens - 1), appends `last`, and packs
// the rows into [rows, longest] int64 padded with kPad on the left or right.
at::Tensor EncodeBatch(const Tokenizer& tok, const std::vector<std::string>& texts,
                       int64_t max_tokens, int64_t last, bool left_pad) {
  std::vector<std::vector<int64_t>> rows;
  size_t width = 0;
  for (const std::string& t : texts) {
    std::vector<int64_t> ids = tok.Encode(t);
    if (static_cast<int64_t>(ids.size()) > max_tokens - 1) ids.resize(max_tokens - 1);
    ids.push_back(last);
    width = std::max(width, ids.size());
    rows.push_back(std::move(ids));
  }
  std::vector<int64_t> flat(rows.size() * width, Tokenizer::kPad);
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t off = left_pad ? width - rows[i].size() : 0;
    std::copy(rows[i].begin(), rows[i].end(), flat.begin() + i * width + off);
  }
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)});
}

}  // namespace

int64_t StepBatches::samples() const {
  int64_t n = 0;
  for (const auto& b : recon) n += b.images.size(0);
  for (const auto& b : i2t) n += b.images.size(0);
  for (const auto& b : t2i) n += b.images.size(0);
  for (const auto& b : edit) n += b.images.size(0);
  return n;
}

at::Tensor ImagesToTensor(const std::vector<std::vector<uint8_t>>& images, int64_t size) {
  const int64_t b = static_cast<int64_t>(images.size());
  at::Tensor out = at::empty({b, size, size, 3}, at::TensorOptions().dtype(at::kByte));
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < b; ++i) {
    std::copy(images[i].begin(), images[i].end(), dst + i * size * size * 3);
  }
  return out.permute({0, 3, 1, 2}).to(at::kFloat).div_(255.0).contiguous();
}

std::vector<std::vector<uint8_t>> TensorToImages(const at::Tensor& images) {
  at::Tensor u8 = images.detach()
                      .to(at::kCPU, at::kFloat)
                      .clamp(0.0, 1.0)
                      .mul(255.0)
                      .round()
                      .to(at::kByte)
                      .permute({0, 2, 3, 1})
                      .contiguous();
  std::vector<std::vector<uint8_t>> out;
  const int64_t per = u8.numel() / std::max<int64_t>(1, u8.size(0));
  for (int64_t i = 0; i < u8.size(0); ++i) {
    const uint8_t* p = u8.data_ptr<uint8_t>() + i * per;
    out.emplace_back(p, p + per);
  }
  return out;
}

PromptIds MakePromptIds(const Tokenizer& tok, const std::vector<std::string>& texts,
                        int64_t max_tokens) {
  const int64_t b = static_cast<int64_t>(texts.size());
  return {at::full({b, 1}, Tokenizer::kUser, at::kLong),
          EncodeBatch(tok, texts, max_tokens, Tokenizer::kAssistant, /*left_pad=*/true)};
}

at::Tensor MakeCaptionIds(const Tokenizer& tok, const std::vector<std::string>& captions,
                          int64_t max_tokens) {
  return EncodeBatch(tok, captions, max_tokens, Tokenizer::kEos, /*left_pad=*/false);
}

at::Tensor GaussianBlur(const at::Tensor& images, double sigma) {
  if (sigma <= 0) return images;
  const int64_t radius = static_cast<int64_t>(std::ceil(3 * sigma));
  at::Tensor x = at::arange(-radius, radius + 1, images.options());
  at::Tensor k = at::exp(-(x * x) / (2 * sigma * sigma));
  k = k / k.sum();
  const int64_t c = images.size(1);
  // Separable: rows then columns, one depthwise convolution each. Reflection
  // needs the pad to be smaller than the image; larger blurs replicate.
  const int64_t pad = radius;
  const bool reflect = pad < images.size(2) && pad < images.size(3);
  auto padded = [&](const at::Tensor& t, std::vector<int64_t> p) {
    return reflect ? at::reflection_pad2d(t, p) : at::replication_pad2d(t, p);
  };
  const std::vector<int64_t> one = {1, 1}, zero = {0, 0};
  at::Tensor out = at::conv2d(padded(images, {pad, pad, 0, 0}), k.view({1, 1, 1, -1}).repeat({c, 1, 1, 1}),
                              at::Tensor(), one, zero, one, c);
  out = at::conv2d(padded(out, {0, 0, pad, pad}), k.view({1, 1, -1, 1}).repeat({c, 1, 1, 1}), at::Tensor(),
                   one, zero, one, c);
  return out;
}

at::Tensor GenerateEdits(UnifiedModel& model, const Tokenizer& tok, const at::Tensor& sources,
                         const std::vector<std::string>& instructions, int64_t max_text_tokens,
                         const SampleOptions& options, at::Generator& gen) {
  const auto dev = sources.device();
  const int64_t n = sources.size(0);
  auto on_device = [&](const PromptIds& p) { return PromptIds{p.pre.to(dev), p.post.to(dev)}; };
  const PromptIds with_text = on_device(MakePromptIds(tok, instructions, max_text_tokens));
  const PromptIds no_text = on_device(MakePromptIds(tok, std::vector<std::string>(n), max_text_tokens));
  const at::Tensor keep = at::ones({n}, at::TensorOptions().dtype(at::kBool).device(dev));
  const Prefix cond = model.EditPrefix(with_text, sources, keep);
  const Prefix text_dropped = model.EditPrefix(no_text, sources, keep);
  const Prefix image_dropped = model.EditPrefix(with_text, sources, keep.logical_not());
  return model.GenerateEdit(cond, text_dropped, image_dropped, options, gen);
}

std::map<std::string, at::Tensor> EncodeStepBatches(const std::vector<StepBatches>& steps) {
  std::map<std::string, at::Tensor> out;
  for (size_t s = 0; s < steps.size(); ++s) {
    const std::string p = std::to_string(s) + ".";
    for (size_t j = 0; j < steps[s].recon.size(); ++j) {
      const std::string k = p + "recon." + std::to_string(j) + ".";
      const ReconBatch& b = steps[s].recon[j];
      out[k + "images"] = b.images;
      out[k + "pre"] = b.prompt.pre;
      out[k + "post"] = b.prompt.post;
      if (b.condition.defined()) out[k + "condition"] = b.condition;
    }
    for (size_t j = 0; j < steps[s].i2t.size(); ++j) {
      const std::string k = p + "i2t." + std::to_string(j) + ".";
      const I2TBatch& b = steps[s].i2t[j];
      out[k + "images"] = b.images;
      out[k + "pre"] = b.question.pre;
      out[k + "post"] = b.question.post;
      out[k + "captions"] = b.captions;
    }
    for (size_t j = 0; j < steps[s].t2i.size(); ++j) {
      const std::string k = p + "t2i." + std::to_string(j) + ".";
      const T2IBatch& b = steps[s].t2i[j];
      out[k + "images"] = b.images;
      out[k + "pre"] = b.prompt.pre;
      out[k + "post"] = b.prompt.post;
    }
    for (size_t j = 0; j < steps[s].edit.size(); ++j) {
      const std::string k = p + "edit." + std::to_string(j) + ".";
      const EditBatch& b = steps[s].edit[j];
      out[k + "images"] = b.images;
      out[k + "sources"] = b.sources;
      out[k + "keep_source"] = b.keep_source;
      out[k + "pre"] = b.prompt.pre;
      out[k + "post"] = b.prompt.post;
    }
  }
  return out;
}

StatusOr<std::vector<StepBatches>> DecodeStepBatches(const std::map<std::string, at::Tensor>& t,
                                                     const std::string& file) {
  std::vector<StepBatches> steps;
  auto get = [&](const std::string& key, at::Tensor* out) -> bool {
    auto it = t.find(key);
    if (it == t.end()) return false;
    *out = it->second;
    return true;
  };
  for (size_t s = 0;; ++s) {
    const std::string p = std::to_string(s) + ".";
    StepBatches step;
    for (size_t j = 0;; ++j) {
      const std::string k = p + "recon." + std::to_string(j) + ".";
      ReconBatch b;
      if (!get(k + "images", &b.images)) break;
      if (!get(k + "pre", &b.prompt.pre) || !get(k + "post", &b.prompt.post)) {
        return DataLossError(file + ": " + k + "pre/post missing");
      }
      get(k + "condition", &b.condition);
      step.recon.push_back(b);
    }
    for (size_t j = 0;; ++j) {
      const std::string k = p + "i2t." + std::to_string(j) + ".";
      I2TBatch b;
      if (!get(k + "images", &b.images)) break;
      if (!get(k + "pre", &b.question.pre) || !get(k + "post", &b.question.post) ||
          !get(k + "captions", &b.captions)) {
        return DataLossError(file + ": " + k + "pre/post/captions missing");
      }
      step.i2t.push_back(b);
    }
    for (size_t j = 0;; ++j) {
      const std::string k = p + "t2i." + std::to_string(j) + ".";
      T2IBatch b;
      if (!get(k + "images", &b.images)) break;
      if (!get(k + "pre", &b.prompt.pre) || !get(k + "post", &b.prompt.post)) {
        return DataLossError(file + ": " + k + "pre/post missing");
      }
      step.t2i.push_back(b);
    }
    for (size_t j = 0;; ++j) {
      const std::string k = p + "edit." + std::to_string(j) + ".";
      EditBatch b;
      if (!get(k + "images", &b.images)) break;
      if (!get(k + "sources", &b.sources) || !get(k + "keep_source", &b.keep_source) ||
          !get(k + "pre", &b.prompt.pre) || !get(k + "post", &b.prompt.post)) {
        return DataLossError(file + ": " + k + "sources/keep_source/pre/post missing");
      }
      step.edit.push_back(b);
    }
    if (step.recon.empty() && step.i2t.empty() && step.t2i.empty() && step.edit.empty()) break;
    steps.push_back(std::move(step));
  }
  if (steps.empty()) return DataLossError(file + ": no recorded steps");
  return steps;
}

}  // namespace reca
