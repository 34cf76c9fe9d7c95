#include "reca/trainer.h"

#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <optional>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "reca/file_util.h"
#include "reca/image_io.h"
#include "reca/model_io.h"
#include "reca/objective.h"
#include "reca/rng.h"
#include "reca/safetensors.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The seed of step `step`'s generator: every step's noise is a pure function
// of (seed, step), so a resumed run draws exactly what an uninterrupted one would.
at::Generator StepGenerator(uint64_t seed, uint64_t step) {
  return at::detail::createCPUGenerator(SplitMix64(seed * 0x9E3779B97F4A7C15ull + step));
}

// OpenBLAS's thread count when OpenBLAS is the BLAS behind LibTorch, else 0.
int BlasThreads() {
  using Fn = int (*)();
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return fn ? fn() : 0;
}

std::string Fmt(double v, int precision = 4) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}

std::vector<RgbImage> ToRgb(const at::Tensor& images) {
  std::vector<RgbImage> out;
  const int h = static_cast<int>(images.size(2)), w = static_cast<int>(images.size(3));
  for (auto& px : TensorToImages(images)) out.push_back({w, h, std::move(px)});
  return out;
}

// A fixed evaluation set, independent of the training seed.
struct HeldOut {
  std::vector<Scene> scenes;
  at::Tensor images;
  ReconBatch recon;
};

HeldOut MakeHeldOut(int64_t image_size, int64_t count, int64_t max_text_tokens) {
  HeldOut h;
  ShapesWorld world(ShapesWorldOptions{0x4e1d007ull, static_cast<int>(image_size)});
  std::vector<std::vector<uint8_t>> px;
  for (int64_t i = 0; i < count; ++i) {
    h.scenes.push_back(world.SceneAt(i));
    px.push_back(ShapesWorld::Render(h.scenes.back()));
  }
  h.images = ImagesToTensor(px, image_size);
  Tokenizer tok;
  h.recon = {h.images,
             MakePromptIds(tok, std::vector<std::string>(count, ReconTemplates()[0]), max_text_tokens)};
  return h;
}

Status WriteGrids(UnifiedModel& model, const TrainOptions& o, const HeldOut& held,
                  const std::string& tag, const c10::Device& device, std::ostream& log) {
  const int64_t n = std::min<int64_t>(o.num_samples, held.images.size(0));
  if (n <= 0) return OkStatus();
  Tokenizer tok;
  const std::map<std::string, std::string> cfg = model.ConfigMap();
  const int64_t max_text = std::stoll(cfg.at("max_text_tokens"));
  return TorchGuard("writing sample grids", [&]() -> Status {
    torch::NoGradGuard no_grad;
    model.eval();
    at::Generator gen = StepGenerator(o.seed ^ 0x5a5a, 0);
    at::Tensor images = held.images.narrow(0, 0, n).to(device);
    // Reconstruction from the understanding embedding + a template.
    PromptIds recon_prompt{held.recon.prompt.pre.narrow(0, 0, n).to(device),
                           held.recon.prompt.post.narrow(0, 0, n).to(device)};
    at::Tensor visual = model.UnderstandingEmbed(images);
    Prefix cond = model.AssemblePrefix(recon_prompt, visual);
    SampleOptions recon_opts = o.sampling;
    recon_opts.cfg = 1.0;
    at::Tensor recon = model.Generate(cond, cond, recon_opts, gen);
    // What the understanding side sees: the lower-resolution view.
    const int64_t f = std::stoll(cfg.at("image_size")) / std::stoll(cfg.at("und_image_size"));
    at::Tensor view = at::avg_pool2d(images, {f, f}).repeat_interleave(f, 2).repeat_interleave(f, 3);
    // Text-to-image from the held-out scenes' dense captions.
    std::vector<std::string> captions, texts;
    for (int64_t i = 0; i < n; ++i) {
      captions.push_back(ShapesWorld::DenseCaption(held.scenes[i]));
      texts.push_back(std::string(kT2IPrefix) + " " + captions.back());
    }
    PromptIds t2i_prompt = MakePromptIds(tok, texts, max_text);
    PromptIds uncond_prompt =
        MakePromptIds(tok, std::vector<std::string>(n, kUncondPrompt), max_text);
    Prefix t2i_cond = model.AssemblePrefix({t2i_prompt.pre.to(device), t2i_prompt.post.to(device)},
                                           at::Tensor());
    Prefix t2i_uncond = model.AssemblePrefix(
        {uncond_prompt.pre.to(device), uncond_prompt.post.to(device)}, at::Tensor());
    at::Tensor t2i = model.Generate(t2i_cond, t2i_uncond, o.sampling, gen);
    model.train();

    const std::string recon_path = o.out_dir + "/recon_" + tag + ".png";
    const std::string t2i_path = o.out_dir + "/t2i_" + tag + ".png";
    RECA_RETURN_IF_ERROR(WritePngGrid(recon_path, {ToRgb(images), ToRgb(view), ToRgb(recon)}));
    RECA_RETURN_IF_ERROR(WritePngGrid(t2i_path, {ToRgb(images), ToRgb(t2i)}));
    log << "wrote " << recon_path << " (rows: input, the low-resolution view the understanding encoder gets, reconstruction from its embedding)\n"
        << "wrote " << t2i_path << " (top: the scene each prompt describes, bottom: generated)\n";
    for (int64_t i = 0; i < n; ++i) log << "  prompt " << i << ": " << captions[i] << "\n";
    return OkStatus();
  });
}

// Shapes-world data for the options and the model config (its image size
// and text budget).
ShapesDataOptions DataOptionsFor(const TrainOptions& o,
                                 const std::map<std::string, std::string>& cfg) {
  ShapesDataOptions d;
  d.seed = o.seed;
  d.image_size = std::stoll(cfg.at("image_size"));
  d.batch = o.batch;
  d.dense_captions = o.dense_captions;
  d.cfg_drop = o.cfg_drop;
  d.max_text_tokens = std::stoll(cfg.at("max_text_tokens"));
  d.mix = o.mix;
  return d;
}

StatusOr<std::shared_ptr<UnifiedModel>> InitialModel(const TrainOptions& o) {
  torch::manual_seed(o.seed);
  return CreateModel(o.family, o.preset);
}

}  // namespace

SourceMix DefaultMix(const std::string& mode) {
  SourceMix m;
  if (mode == "pretrain") {
    m.recon = 0, m.i2t = 1, m.t2i = 1;
  }
  return m;
}

Status TrainOptions::Validate() const {
  if (mode != "reca" && mode != "pretrain") {
    return InvalidArgumentError("train.mode: must be 'reca' or 'pretrain', got '" + mode + "'");
  }
  if (steps < 1) return InvalidArgumentError("train.steps: must be >= 1");
  if (batch < 1) return InvalidArgumentError("train.batch: must be >= 1");
  if (threads < 0) return InvalidArgumentError("train.threads: must be >= 0");
  if (mix.recon < 0 || mix.i2t < 0 || mix.t2i < 0 || mix.total() == 0) {
    return InvalidArgumentError("train.mix: repeats must be >= 0 and not all 0");
  }
  if (!(cfg_drop >= 0 && cfg_drop <= 1)) return InvalidArgumentError("train.cfg_drop: must be in [0, 1]");
  if (log_every < 1) return InvalidArgumentError("train.log_every: must be >= 1");
  if (sample_every < 0 || save_every < 0 || num_samples < 0) {
    return InvalidArgumentError("train.sample_every/save_every/num_samples: must be >= 0");
  }
  return optim.Validate();
}

Status SaveInitialWeights(const TrainOptions& o, const std::string& path) {
  RECA_RETURN_IF_ERROR(o.Validate());
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> model, InitialModel(o));
  return SaveModel(*model, path, {{"step", "0"}});
}

Status DumpBatches(const TrainOptions& o, int64_t count, const std::string& path) {
  RECA_RETURN_IF_ERROR(o.Validate());
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> model, CreateModel(o.family, o.preset));
  ShapesStepData data(DataOptionsFor(o, model->ConfigMap()));
  std::vector<StepBatches> steps;
  for (int64_t s = 0; s < count; ++s) steps.push_back(data.Build(s));
  return WriteSafetensors(path, EncodeStepBatches(steps), {{"steps", std::to_string(count)}});
}

StatusOr<TrainSummary> RunTraining(const TrainOptions& o, std::ostream& log) {
  RECA_RETURN_IF_ERROR(o.Validate());
  RECA_RETURN_IF_ERROR(MakeDirs(o.out_dir));
  const int threads = o.threads > 0 ? o.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  RECA_ASSIGN_OR_RETURN(c10::Device device, TorchGuardOr("train.device", [&] { return c10::Device(o.device); }));

  std::shared_ptr<UnifiedModel> model;
  if (o.init.empty()) {
    RECA_ASSIGN_OR_RETURN(model, InitialModel(o));
  } else {
    RECA_ASSIGN_OR_RETURN(model, LoadModel(o.init));
  }
  RECA_RETURN_IF_ERROR(TorchGuard("moving the model to " + o.device, [&] { model->to(device); }));
  const std::map<std::string, std::string> cfg = model->ConfigMap();
  const int64_t image_size = std::stoll(cfg.at("image_size"));
  const int64_t max_text = std::stoll(cfg.at("max_text_tokens"));

  std::optional<ShapesStepData> data;
  std::vector<StepBatches> replay;
  if (o.batches_file.empty()) {
    data.emplace(DataOptionsFor(o, cfg));
  } else {
    RECA_ASSIGN_OR_RETURN(SafetensorsContents f, ReadSafetensors(o.batches_file));
    RECA_ASSIGN_OR_RETURN(replay, DecodeStepBatches(f.tensors, o.batches_file));
  }

  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  log << "reca-train: mode=" << o.mode << " family=" << model->family() << " preset=" << cfg.at("name")
      << " params=" << params << " device=" << o.device << " threads=" << threads
      << " blas_threads=" << BlasThreads()
      << " batch=" << o.batch << " mix(recon:i2t:t2i)=" << o.mix.recon << ":" << o.mix.i2t << ":"
      << o.mix.t2i << " steps=" << o.steps << (o.init.empty() ? "" : " init=" + o.init) << "\n";

  HeldOut held = MakeHeldOut(image_size, std::max<int64_t>(16, o.num_samples), max_text);
  // Held-out reconstruction loss with each image's own understanding
  // embedding and with its neighbour's (fixed noise both times).
  const at::Tensor mismatched = held.images.roll(1, 0);
  auto heldout_loss = [&](bool mismatch) -> StatusOr<double> {
    at::Generator g = StepGenerator(0x4e1d, 0);
    return ReconstructionLoss(*model, held.recon, g, device, mismatch ? mismatched : at::Tensor());
  };
  RECA_ASSIGN_OR_RETURN(double heldout_before, heldout_loss(false));
  RECA_ASSIGN_OR_RETURN(double mismatched_before, heldout_loss(true));
  log << "held-out reconstruction loss before: " << Fmt(heldout_before)
      << " (conditioned on another image: " << Fmt(mismatched_before) << ")\n";

  Optimizer opt(*model, o.optim);
  model->train();
  TrainSummary summary;
  double timed_seconds = 0, timed_samples = 0, timed_flops = 0;
  int64_t timed_steps = 0;
  double window_loss = 0, window_recon = 0, window_i2t = 0, window_t2i = 0;
  int64_t window = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    const auto t0 = Clock::now();
    StepBatches batches = data ? data->Build(step) : replay[step % replay.size()];
    const auto t1 = Clock::now();
    at::Generator gen = StepGenerator(o.seed, step);
    RECA_ASSIGN_OR_RETURN(StepLosses losses,
                          AccumulateRecaGradients(*model, batches, o.mix, gen, device, o.bf16));
    if (!std::isfinite(losses.total)) {
      return FailedPreconditionError("loss is not finite at step " + std::to_string(step) +
                                     " (try a lower optimizer.lr)");
    }
    RECA_ASSIGN_OR_RETURN(double gnorm, opt.Step(step));
    const auto t2 = Clock::now();
    const double step_s = Seconds(t0, t2);
    if (step > 0) {  // the first step pays one-time allocation costs
      timed_seconds += step_s;
      timed_samples += losses.samples;
      timed_flops += 3.0 * losses.forward_flops;
      ++timed_steps;
    }
    auto acc = [](double* w, double v) { if (!std::isnan(v)) *w += v; };
    window_loss += losses.total;
    acc(&window_recon, losses.recon);
    acc(&window_i2t, losses.i2t);
    acc(&window_t2i, losses.t2i);
    ++window;
    summary.last_loss = losses.total;
    if ((step + 1) % o.log_every == 0 || step == 0 || step + 1 == o.steps) {
      auto avg = [&](double w, int64_t rep) { return rep > 0 ? w / window : NAN; };
      log << "step " << std::setw(5) << step + 1 << "/" << o.steps << " | loss " << Fmt(window_loss / window)
          << " | recon " << Fmt(avg(window_recon, o.mix.recon)) << " | i2t "
          << Fmt(avg(window_i2t, o.mix.i2t)) << " | t2i " << Fmt(avg(window_t2i, o.mix.t2i))
          << " | lr " << std::scientific << std::setprecision(2) << LearningRateAt(o.optim, step)
          << std::defaultfloat << " | gnorm " << Fmt(gnorm, 3) << " | "
          << Fmt(losses.samples / step_s, 1) << " samples/s | step " << Fmt(step_s * 1e3, 0)
          << " ms | data " << Fmt(Seconds(t0, t1) * 1e3, 1) << " ms\n";
      log.flush();
      window_loss = window_recon = window_i2t = window_t2i = 0;
      window = 0;
    }
    if (o.save_every > 0 && (step + 1) % o.save_every == 0 && step + 1 < o.steps) {
      RECA_RETURN_IF_ERROR(SaveModel(*model, o.out_dir + "/model.safetensors",
                                     {{"step", std::to_string(step + 1)}}));
    }
    if (o.sample_every > 0 && (step + 1) % o.sample_every == 0 && step + 1 < o.steps) {
      RECA_RETURN_IF_ERROR(WriteGrids(*model, o, held, "step" + std::to_string(step + 1), device, log));
    }
  }
  summary.steps = o.steps;
  if (timed_steps > 0) {
    summary.mean_step_seconds = timed_seconds / timed_steps;
    summary.samples_per_second = timed_samples / timed_seconds;
    summary.model_flops_per_second = timed_flops / timed_seconds;
  }
  RECA_ASSIGN_OR_RETURN(summary.heldout_recon_loss, heldout_loss(false));
  RECA_ASSIGN_OR_RETURN(summary.heldout_recon_loss_mismatched, heldout_loss(true));
  log << "held-out reconstruction loss after: " << Fmt(summary.heldout_recon_loss)
      << " (conditioned on another image: " << Fmt(summary.heldout_recon_loss_mismatched)
      << "; before: " << Fmt(heldout_before) << " / " << Fmt(mismatched_before) << ")\n";
  log << "throughput: " << Fmt(summary.samples_per_second, 1) << " samples/s, "
      << Fmt(summary.mean_step_seconds * 1e3, 1) << " ms/step, "
      << Fmt(summary.model_flops_per_second / 1e9, 1) << " model GFLOP/s\n";

  const std::string weights = o.out_dir + "/model.safetensors";
  RECA_RETURN_IF_ERROR(SaveModel(*model, weights, {{"step", std::to_string(o.steps)}, {"mode", o.mode}}));
  log << "wrote " << weights << "\n";
  if (!opt.ema().empty()) {
    std::map<std::string, at::Tensor> ema(opt.ema().begin(), opt.ema().end());
    std::map<std::string, std::string> meta = model->ConfigMap();
    RECA_RETURN_IF_ERROR(WriteSafetensors(o.out_dir + "/ema.safetensors", ema, meta));
    log << "wrote " << o.out_dir << "/ema.safetensors\n";
  }
  RECA_RETURN_IF_ERROR(WriteGrids(*model, o, held, o.mode + "_final", device, log));
  return summary;
}

}  // namespace reca
