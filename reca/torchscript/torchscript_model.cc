#include "reca/torchscript/torchscript_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>

#include <unistd.h>

#include <sstream>

#include "reca/tokenizer.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

using NoiseShapes = std::map<std::string, std::vector<int64_t>>;

const char* const kMethods[] = {"understanding_embed", "embed_text",  "noise_shapes",
                                "generation_loss",     "i2t_loss",    "generate"};

std::string Shape(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes() << " " << t.scalar_type();
  return os.str();
}

class TorchScriptModel : public UnifiedModel {
 public:
  TorchScriptModel(std::string path, torch::jit::Module module)
      : path_(std::move(path)), module_(std::move(module)) {
    image_size_ = module_.attr("image_size").toInt();
    max_text_tokens_ = module_.attr("max_text_tokens").toInt();
    // Register the module's tensors under their dotted names, one holder
    // module per path component: same tensors, so updates reach the module.
    std::map<std::string, std::shared_ptr<torch::nn::Module>> holders;
    auto holder = [&](const std::string& dotted) -> torch::nn::Module& {
      torch::nn::Module* parent = this;
      std::string prefix;
      size_t start = 0;
      for (size_t dot; (dot = dotted.find('.', start)) != std::string::npos; start = dot + 1) {
        const std::string part = dotted.substr(start, dot - start);
        prefix += (prefix.empty() ? "" : ".") + part;
        auto it = holders.find(prefix);
        if (it == holders.end()) {
          auto m = std::make_shared<torch::nn::Module>();
          parent->register_module(part, m);
          it = holders.emplace(prefix, m).first;
        }
        parent = it->second.get();
      }
      return *parent;
    };
    auto leaf = [](const std::string& dotted) { return dotted.substr(dotted.rfind('.') + 1); };
    for (const auto& p : module_.named_parameters(/*recurse=*/true)) {
      const bool trains = p.value.requires_grad();
      holder(p.name).register_parameter(leaf(p.name), p.value, trains);
    }
    for (const auto& b : module_.named_buffers(/*recurse=*/true)) {
      holder(b.name).register_buffer(leaf(b.name), b.value);
    }
    const c10::IValue shapes = module_.run_method("noise_shapes");
    for (const auto& kv : shapes.toGenericDict()) {
      noise_shapes_[kv.key().toStringRef()] = kv.value().toIntVector();
    }
  }

  std::string family() const override { return "torchscript"; }
  std::map<std::string, std::string> ConfigMap() const override {
    return {{"family", "torchscript"},
            {"name", path_.substr(path_.rfind('/') + 1)},
            {"module", path_},
            {"image_size", std::to_string(image_size_)},
            {"und_image_size", std::to_string(image_size_)},  // the module's own business
            {"max_text_tokens", std::to_string(max_text_tokens_)}};
  }

  torch::Tensor UnderstandingEmbed(const torch::Tensor& images) override {
    return module_.run_method("understanding_embed", images).toTensor();
  }
  int64_t NumVisualTokens() const override { return num_visual_tokens_; }
  Prefix AssemblePrefix(const PromptIds& prompt, const torch::Tensor& visual) override {
    return AssemblePromptPrefix(prompt, visual, [this](const torch::Tensor& ids) { return Embed(ids); });
  }


  // One standard-normal draw per key and row, from the row's seed.
  using UnifiedModel::SampleGenerationNoise;
  NamedTensors SampleGenerationNoise(const NoiseSeeds& seeds) override {
    std::map<std::string, std::vector<torch::Tensor>> rows;
    for (uint64_t seed : seeds.rows) {
      at::Generator g = at::detail::createCPUGenerator(seed);
      for (const auto& [key, shape] : noise_shapes_) rows[key].push_back(torch::randn(shape, g, torch::kFloat32));
    }
    NamedTensors out;
    for (auto& [key, list] : rows) out[key] = torch::stack(list);
    return out;
  }

  torch::Tensor GenerationLoss(const Prefix& prefix, const torch::Tensor& images,
                               const NamedTensors& noise) override {
    return module_
        .run_method("generation_loss", prefix.embeds, prefix.valid, images, NoiseDict(noise, images.device()))
        .toTensor();
  }
  torch::Tensor I2TLoss(const torch::Tensor& images, const PromptIds& question,
                        const torch::Tensor& caption_ids) override {
    return module_.run_method("i2t_loss", images, question.pre, question.post, caption_ids).toTensor();
  }
  torch::Tensor Generate(const Prefix& cond, const Prefix& uncond, const SampleOptions& options,
                         at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    const NamedTensors noise = SampleGenerationNoise(cond.embeds.size(0), gen);
    return module_
        .run_method("generate", cond.embeds, cond.valid, uncond.embeds, uncond.valid,
                    NoiseDict(noise, cond.embeds.device()), options.cfg, options.diffusion_steps)
        .toTensor();
  }

  // Probes every method once (batch of 2) and checks shapes and dtypes.
  Status CheckContract() {
    torch::NoGradGuard no_grad;
    auto fail = [&](const std::string& method, const std::string& what) {
      return InvalidArgumentError(path_ + ": TorchScript method '" + method + "' " + what +
                                  " (see the contract in tools/export_torchscript.py)");
    };
    torch::Tensor images = torch::rand({2, 3, image_size_, image_size_});
    auto tensor_of = [&](const std::string& method, const c10::IValue& v, at::Tensor* out) -> Status {
      if (!v.isTensor()) return fail(method, "returned " + v.tagKind() + ", not a Tensor");
      *out = v.toTensor();
      return OkStatus();
    };
    at::Tensor visual, text, loss, i2t, generated;
    RECA_RETURN_IF_ERROR(tensor_of("understanding_embed", module_.run_method("understanding_embed", images), &visual));
    if (visual.dim() != 3 || visual.size(0) != 2 || !visual.is_floating_point()) {
      return fail("understanding_embed", "returned " + Shape(visual) + ", expected [2, V, D] float for 2 images");
    }
    num_visual_tokens_ = visual.size(1);
    PromptIds prompt = {torch::full({2, 1}, Tokenizer::kUser, torch::kInt64),
                        torch::full({2, 3}, Tokenizer::kAssistant, torch::kInt64)};
    RECA_RETURN_IF_ERROR(tensor_of("embed_text", module_.run_method("embed_text", prompt.post), &text));
    if (text.dim() != 3 || text.size(0) != 2 || text.size(1) != 3 || text.size(2) != visual.size(2) ||
        text.scalar_type() != visual.scalar_type()) {
      return fail("embed_text", "returned " + Shape(text) + " for ids [2, 3], expected [2, 3, " +
                                    std::to_string(visual.size(2)) + "] like understanding_embed's width");
    }
    at::Generator gen = at::detail::createCPUGenerator(1);
    Prefix prefix = AssemblePrefix(prompt, visual);
    RECA_RETURN_IF_ERROR(tensor_of("generation_loss", module_.run_method("generation_loss", prefix.embeds,
                                                                         prefix.valid, images,
                                                                         NoiseDict(SampleGenerationNoise(2, gen), images.device())),
                                   &loss));
    if (loss.dim() != 0 || !loss.is_floating_point()) {
      return fail("generation_loss", "returned " + Shape(loss) + ", expected a 0-dim float loss");
    }
    torch::Tensor captions = torch::full({2, 4}, Tokenizer::kEos, torch::kInt64);
    RECA_RETURN_IF_ERROR(tensor_of("i2t_loss", module_.run_method("i2t_loss", images, prompt.pre, prompt.post, captions), &i2t));
    if (i2t.dim() != 0 || !i2t.is_floating_point()) {
      return fail("i2t_loss", "returned " + Shape(i2t) + ", expected a 0-dim float loss");
    }
    SampleOptions o;
    o.diffusion_steps = 2;
    o.cfg = 2.0;
    Prefix text_only = AssemblePrefix(prompt, torch::Tensor());
    generated = Generate(text_only, text_only, o, gen);
    if (generated.dim() != 4 || generated.size(0) != 2 || generated.size(1) != 3 ||
        generated.size(2) != image_size_ || generated.size(3) != image_size_) {
      return fail("generate", "returned " + Shape(generated) + ", expected [2, 3, " + std::to_string(image_size_) +
                                  ", " + std::to_string(image_size_) + "]");
    }
    return OkStatus();
  }

 private:
  torch::Tensor Embed(const torch::Tensor& ids) { return module_.run_method("embed_text", ids).toTensor(); }
  c10::Dict<std::string, at::Tensor> NoiseDict(const NamedTensors& noise, const c10::Device& device) {
    c10::Dict<std::string, at::Tensor> d;
    for (const auto& [k, v] : noise) d.insert(k, v.to(device));
    return d;
  }

  std::string path_;
  torch::jit::Module module_;
  int64_t image_size_ = 0, max_text_tokens_ = 0, num_visual_tokens_ = 0;
  NoiseShapes noise_shapes_;
};

}  // namespace

StatusOr<std::shared_ptr<UnifiedModel>> LoadTorchScriptModel(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) {
    return InvalidArgumentError("spec.model.module: " + path + ": cannot read the file");
  }
  torch::jit::Module module;
  if (Status s = TorchGuard(path, [&] { module = torch::jit::load(path); }); !s.ok()) {
    std::string why(s.message());
    why = why.substr(0, why.find('\n'));
    return InvalidArgumentError("spec.model.module: " + path + " is not a TorchScript module (" + why + ")");
  }
  for (const char* method : kMethods) {
    if (!module.find_method(method)) {
      return InvalidArgumentError(path + ": TorchScript module lacks method '" + method +
                                  "' (see the contract in tools/export_torchscript.py)");
    }
  }
  for (const char* attr : {"image_size", "max_text_tokens"}) {
    if (!module.hasattr(attr) || !module.attr(attr).isInt()) {
      return InvalidArgumentError(path + ": TorchScript module lacks the int attribute '" + attr + "'");
    }
  }
  std::shared_ptr<TorchScriptModel> model;
  RECA_RETURN_IF_ERROR(TorchGuard(path + ": noise_shapes", [&] {
    model = std::make_shared<TorchScriptModel>(path, std::move(module));
  }));
  RECA_RETURN_IF_ERROR(TorchGuard(path + ": contract probe", [&] { return model->CheckContract(); }));
  return std::static_pointer_cast<UnifiedModel>(model);
}

}  // namespace reca
