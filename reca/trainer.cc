#include "reca/trainer.h"

#include <dlfcn.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <nlohmann/json.hpp>

#include "reca/ckpt/checkpoint_store.h"
#include "reca/ckpt/sha256.h"
#include "reca/collapse.h"
#include "reca/data_pipeline.h"
#include "reca/file_util.h"
#include "reca/optim.h"
#include "reca/image_io.h"
#include "reca/model_io.h"
#include "reca/objective.h"
#include "reca/peak_flops.h"
#include "reca/rng.h"
#include "reca/safetensors.h"
#include "reca/shapes_edit.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

std::atomic<bool> g_stop_requested{false};

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
  T2IBatch t2i;  // the same images under their dense captions (collapse check)
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
  h.recon.images = h.images;
  h.recon.prompt = MakePromptIds(tok, std::vector<std::string>(count, ReconTemplates()[0]), max_text_tokens);
  std::vector<std::string> texts;
  for (const Scene& scene : h.scenes) texts.push_back(std::string(kT2IPrefix) + " " + ShapesWorld::DenseCaption(scene));
  h.t2i.images = h.images;
  h.t2i.prompt = MakePromptIds(tok, texts, max_text_tokens);
  return h;
}

SampleOptions SamplingOf(const JobSpec& spec) {
  SampleOptions o;
  o.num_iter = spec.samples.iters;
  o.diffusion_steps = spec.samples.diffusion_steps;
  o.cfg = spec.samples.cfg;
  o.temperature = spec.samples.temperature;
  o.image_cfg = spec.samples.image_cfg;
  return o;
}

bool HasTask(const JobSpec& spec, const std::string& task) {
  for (const SourceSpec& s : spec.effective_sources()) {
    if (s.task == task) return true;
  }
  return false;
}

// Jobs with an edit source: the fixed ShapesEdit pairs (one per category
// first) edited by their dense instructions; rows source, target, edited.
Status WriteEditGrid(UnifiedModel& model, const JobSpec& spec, const std::string& out_dir,
                     const std::string& tag, const c10::Device& device, std::ostream& log) {
  const std::map<std::string, std::string> cfg = model.ConfigMap();
  const int image_size = std::stoi(cfg.at("image_size"));
  const int64_t n = spec.samples.count;
  const std::vector<EditPair> pairs =
      ShapesEditPairs(static_cast<int>((n + kNumEditCategories - 1) / kNumEditCategories), image_size);
  std::vector<std::vector<uint8_t>> sources, targets;
  std::vector<std::string> instructions;
  for (int64_t i = 0; i < n; ++i) {
    sources.push_back(ShapesWorld::Render(pairs[i].source));
    targets.push_back(ShapesWorld::Render(pairs[i].target));
    instructions.push_back(pairs[i].dense_instruction);
  }
  at::Tensor src = ImagesToTensor(sources, image_size), edited;
  SampleOptions sampling = SamplingOf(spec);
  if (!model.SupportsImageGuidance()) sampling.image_cfg = 1.0;
  RECA_RETURN_IF_ERROR(TorchGuard("writing the edit grid", [&] {
    torch::NoGradGuard no_grad;
    model.eval();
    at::Generator gen = StepGenerator(spec.seed ^ 0xed17, 0);
    edited = GenerateEdits(model, Tokenizer(), src.to(device), instructions,
                           std::stoll(cfg.at("max_text_tokens")), sampling, gen)
                 .to(at::kCPU);
    model.train();
  }));
  const std::string path = out_dir + "/edit_" + tag + ".png";
  RECA_RETURN_IF_ERROR(WritePngGrid(path, {ToRgb(src), ToRgb(ImagesToTensor(targets, image_size)), ToRgb(edited)}));
  log << "wrote " << path << " (rows: source, the exact target, edited by the model)\n";
  for (int64_t i = 0; i < n; ++i) {
    log << "  edit " << i << " (" << EditCategoryName(pairs[i].category) << "): " << instructions[i] << "\n";
  }
  return OkStatus();
}

Status WriteGrids(UnifiedModel& model, const JobSpec& spec, const std::string& out_dir,
                  const HeldOut& held, const std::string& tag, const c10::Device& device, std::ostream& log) {
  const int64_t n = std::min<int64_t>(spec.samples.count, held.images.size(0));
  if (n <= 0) return OkStatus();
  Tokenizer tok;
  const std::map<std::string, std::string> cfg = model.ConfigMap();
  const int64_t max_text = std::stoll(cfg.at("max_text_tokens"));
  RECA_RETURN_IF_ERROR(TorchGuard("writing sample grids", [&]() -> Status {
    torch::NoGradGuard no_grad;
    model.eval();
    at::Generator gen = StepGenerator(spec.seed ^ 0x5a5a, 0);
    at::Tensor images = held.images.narrow(0, 0, n).to(device);
    // Reconstruction from the understanding embedding + a template.
    PromptIds recon_prompt{held.recon.prompt.pre.narrow(0, 0, n).to(device),
                           held.recon.prompt.post.narrow(0, 0, n).to(device)};
    at::Tensor visual = model.UnderstandingEmbed(images);
    Prefix cond = model.AssemblePrefix(recon_prompt, visual);
    const SampleOptions sampling = SamplingOf(spec);
    SampleOptions recon_opts = sampling;
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
    at::Tensor t2i = model.Generate(t2i_cond, t2i_uncond, sampling, gen);
    model.train();

    const std::string recon_path = out_dir + "/recon_" + tag + ".png";
    const std::string t2i_path = out_dir + "/t2i_" + tag + ".png";
    RECA_RETURN_IF_ERROR(WritePngGrid(recon_path, {ToRgb(images), ToRgb(view), ToRgb(recon)}));
    RECA_RETURN_IF_ERROR(WritePngGrid(t2i_path, {ToRgb(images), ToRgb(t2i)}));
    log << "wrote " << recon_path << " (rows: input, the low-resolution view the understanding encoder gets, reconstruction from its embedding)\n"
        << "wrote " << t2i_path << " (top: the scene each prompt describes, bottom: generated)\n";
    for (int64_t i = 0; i < n; ++i) log << "  prompt " << i << ": " << captions[i] << "\n";
    return OkStatus();
  }));
  return HasTask(spec, "edit") ? WriteEditGrid(model, spec, out_dir, tag, device, log) : OkStatus();
}

OptimOptions OptimOf(const JobSpec& spec) {
  OptimOptions o;
  o.lr = spec.optimizer.lr;
  o.min_lr = spec.optimizer.min_lr;
  o.beta1 = spec.optimizer.beta1;
  o.beta2 = spec.optimizer.beta2;
  o.eps = spec.optimizer.eps;
  o.weight_decay = spec.optimizer.weight_decay;
  o.grad_clip = spec.optimizer.grad_clip;
  o.ema_decay = spec.optimizer.ema_decay;
  o.warmup_steps = spec.warmup_steps();
  o.total_steps = spec.steps;
  o.constant_after_warmup = spec.schedule.decay == "constant";
  return o;
}

LossWeights WeightsOf(const JobSpec& spec) {
  return {spec.reca.recon_weight, spec.reca.i2t_weight, spec.reca.t2i_weight, spec.reca.edit_weight};
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The model of a verified checkpoint's files.
StatusOr<std::shared_ptr<UnifiedModel>> CheckpointModel(const std::string& dir,
                                                        const std::map<std::string, std::string>& files) {
  auto it = files.find("model.safetensors");
  if (it == files.end()) return DataLossError(dir + ": checkpoint has no model.safetensors");
  return DecodeModel(it->second, dir + "/model.safetensors");
}

// Weights to start from: a safetensors file or a checkpoint directory.
StatusOr<std::shared_ptr<UnifiedModel>> LoadInit(const std::string& init) {
  if (!IsDirectory(init)) return LoadModel(init);
  RECA_ASSIGN_OR_RETURN(auto files, CheckpointStore::LoadVerified(init));
  return CheckpointModel(init, files);
}

// spec.model's config overrides.
StatusOr<std::map<std::string, std::string>> ConfigOverrides(const JobSpec& spec) {
  RECA_ASSIGN_OR_RETURN(auto o, ParseConfigEntries(spec.model.config, "spec.model.config"));
  if (spec.model.und_image_size > 0) o["und_image_size"] = std::to_string(spec.model.und_image_size);
  if (!spec.model.module.empty()) o["module"] = spec.model.module;
  return o;
}

StatusOr<std::shared_ptr<UnifiedModel>> InitialModel(const JobSpec& spec) {
  RECA_ASSIGN_OR_RETURN(const auto overrides, ConfigOverrides(spec));
  std::shared_ptr<UnifiedModel> model;
  if (!spec.model.init.empty()) {
    RECA_ASSIGN_OR_RETURN(model, LoadInit(spec.model.init));
    if (model->family() != spec.model.family) {
      return InvalidArgumentError("spec.model.family: is '" + spec.model.family + "' but spec.model.init (" +
                                  spec.model.init + ") holds a '" + model->family() + "' model");
    }
  } else {
    torch::manual_seed(spec.seed);
    return CreateModel(spec.model.family, spec.model.preset, overrides);
  }
  return Reconfigure(model, overrides);
}

// Applies spec.model.frozen (["auto"]: the family's RecA default).
Status ApplyFrozen(UnifiedModel& model, const JobSpec& spec, std::ostream& log) {
  const std::vector<std::string>& f = spec.model.frozen;
  const bool automatic = f.size() == 1 && f[0] == "auto";
  const std::vector<std::string> names = automatic ? model.DefaultFrozen() : f;
  // `auto` with no family default keeps the parameters' own requires_grad
  // (a torchscript model decides itself).
  if (!automatic || !names.empty()) RECA_RETURN_IF_ERROR(FreezeModules(model, names));
  int64_t total = 0, trained = 0;
  for (const auto& p : model.parameters()) {
    total += p.numel();
    if (p.requires_grad()) trained += p.numel();
  }
  if (trained == 0) return InvalidArgumentError("spec.model.frozen: freezes every parameter of the model");
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  if (list.empty()) list = automatic ? "as the model says" : "nothing";
  log << "frozen: " << list << " (" << trained << " of " << total << " parameters train)\n";
  return OkStatus();
}

// What a checkpoint holds besides the weights.
struct ResumeState {
  int64_t step = 0;
  SamplerState sampler;
  DataStats data;  // the bad-sample budget used so far
  double collapse_t2i_level = 0;  // the collapse detector's reference (0: none yet)
};

constexpr const char* kStateFormat = "reca-train-state/1";

StatusOr<std::map<std::string, std::string>> CheckpointFiles(UnifiedModel& model, const Optimizer& opt,
                                                             const JobSpec& spec, int64_t step,
                                                             const SamplerState& sampler,
                                                             const DataStats& stats, int world,
                                                             double collapse_t2i_level) {
  std::map<std::string, std::string> files;
  RECA_ASSIGN_OR_RETURN(files["model.safetensors"], EncodeModel(model, {{"step", std::to_string(step)}}));
  RECA_ASSIGN_OR_RETURN(files["optimizer.safetensors"],
                        EncodeSafetensors(opt.StateTensors(), {{"step", std::to_string(step)}}));
  nlohmann::json state = {
      {"format", kStateFormat},
      {"step", step},
      {"sampler", sampler.ToJson()},
      // Every step's randomness is derived, not stored: the loss noise of a
      // sample from (seed, source, position), the step generator from (seed, step).
      {"rng", {{"seed", spec.seed}, {"scheme", "splitmix64(seed, source, position); splitmix64(seed, step)"}}},
      {"world_size", world},
      {"data", {{"samples_read", stats.samples_read}, {"bad_samples", stats.bad_samples}}},
      // The level the whole job's collapse checks compare against (measured
      // before its first step, not again on resume).
      {"collapse_t2i_level", collapse_t2i_level},
      {"spec", JobSpecToJson(spec)},
  };
  files["state.json"] = state.dump(2) + "\n";
  return files;
}

// The optimizer, sampler and step of a verified checkpoint's `files` (the
// model came from its model.safetensors already).
Status Restore(const std::string& dir, std::map<std::string, std::string>& files, Optimizer& opt,
               const JobSpec& spec, size_t num_sources, ResumeState* out, std::ostream& log) {
  for (const char* name : {"optimizer.safetensors", "state.json"}) {
    if (!files.count(name)) return DataLossError(dir + ": checkpoint has no " + name);
  }
  RECA_ASSIGN_OR_RETURN(SafetensorsContents optim,
                        DecodeSafetensors(files["optimizer.safetensors"], dir + "/optimizer.safetensors"));
  RECA_RETURN_IF_ERROR(opt.LoadStateTensors(optim.tensors, dir + "/optimizer.safetensors"));
  nlohmann::json state = nlohmann::json::parse(files["state.json"], nullptr, false);
  if (state.is_discarded() || !state.is_object() || state.value("format", "") != kStateFormat) {
    return DataLossError(dir + "/state.json: not a " + std::string(kStateFormat) + " document");
  }
  out->step = state.value("step", int64_t{-1});
  if (out->step < 0) return DataLossError(dir + "/state.json: no step");
  RECA_ASSIGN_OR_RETURN(out->sampler, SamplerState::FromJson(state["sampler"], num_sources));
  out->collapse_t2i_level = state.value("collapse_t2i_level", 0.0);
  if (state.contains("data") && state["data"].is_object()) {
    out->data.samples_read = state["data"].value("samples_read", int64_t{0});
    out->data.bad_samples = state["data"].value("bad_samples", int64_t{0});
  }
  const nlohmann::json now = JobSpecToJson(spec);
  if (state.contains("spec") && state["spec"] != now) {
    std::string changed;
    for (auto it = now.begin(); it != now.end(); ++it) {
      if (!state["spec"].contains(it.key()) || state["spec"][it.key()] != it.value()) {
        changed += (changed.empty() ? "" : ", ") + it.key();
      }
    }
    log << "note: the job spec changed since " << dir << " (" << changed << "); resuming with the new one\n";
  }
  return OkStatus();
}

// Which checkpoint this run starts from ("" = none), per RuntimeOptions'
// resume fields; rank 0 discards the committed checkpoints after it.
StatusOr<std::string> ResumePoint(const RuntimeOptions& rt, const CheckpointStore& store, bool lead,
                                  std::ostream& log) {
  RECA_ASSIGN_OR_RETURN(std::vector<CheckpointInfo> ckpts, store.List());
  if (rt.resume_from.empty()) {  // standalone: the newest on disk
    if (!ckpts.empty() && !rt.resume) {
      return FailedPreconditionError("--resume=false, but " + store.root() + " holds checkpoints (newest: " +
                                     ckpts.back().path + "); use another --out or remove them");
    }
    return ckpts.empty() ? std::string() : ckpts.back().path;
  }
  std::string dir;
  int64_t step = 0;
  if (rt.resume_from != "none") {
    dir = rt.resume_from;
    if (!ParseCheckpointPath(dir, &step)) {
      return InvalidArgumentError("--resume_from: " + rt.resume_from + " is not a step-<N> checkpoint directory");
    }
    if (!rt.resume_manifest_sha256.empty()) {
      StatusOr<std::string> manifest = ReadFile(dir + "/MANIFEST.json");
      if (!manifest.ok()) {
        return DataLossError("--resume_from: the recorded checkpoint " + dir + " cannot be read: " +
                             manifest.status().ToString());
      }
      const std::string found = Sha256Hex(*manifest);
      if (found != rt.resume_manifest_sha256) {
        return DataLossError("--resume_from: " + dir + "/MANIFEST.json has sha256 " + found +
                             ", not the recorded " + rt.resume_manifest_sha256);
      }
    }
  }
  if (lead) {
    for (const CheckpointInfo& c : ckpts) {
      if (!dir.empty() && c.step <= step) continue;
      log << "discarding " << c.path << ": committed by an attempt that failed before the coordinator recorded it\n";
      RECA_RETURN_IF_ERROR(CheckpointStore::Delete(c.path));
    }
  }
  return dir;
}

// Keeps the lines of steps <= `last_step` (those the resumed run does not
// redo; none for a fresh run), so the file holds each step once.
Status TrimMetrics(const std::string& path, int64_t last_step) {
  StatusOr<std::string> old = ReadFile(path);
  if (!old.ok()) return OkStatus();  // no file yet
  std::istringstream lines(*old);
  std::string line, kept;
  while (std::getline(lines, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("step", int64_t{0}) <= last_step) kept += line + "\n";
  }
  return WriteFileAtomic(path, kept);
}

extern "C" void OnStopSignal(int) { g_stop_requested.store(true); }

// Installs SIGTERM/SIGINT handlers for its lifetime.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa = {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, &old_term_);
    ::sigaction(SIGINT, &sa, &old_int_);
  }
  ~StopSignals() {
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
  }

 private:
  struct sigaction old_term_, old_int_;
};

std::string Duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t % 3600) / 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}

void DrawProgress(int64_t done, int64_t first, int64_t total, double loss, double elapsed) {
  const int width = 30;
  const double frac = static_cast<double>(done) / static_cast<double>(total);
  const int fill = static_cast<int>(frac * width);
  const double rate = elapsed / std::max<int64_t>(1, done - first);
  std::string bar(static_cast<size_t>(fill), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r[%s] %lld/%lld %5.1f%% loss %.4f ETA %s   ", bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total), 100.0 * frac, loss,
               Duration(rate * static_cast<double>(total - done)).c_str());
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace

bool IsUnusableResumeCheckpoint(const Status& status) {
  return status.code() == StatusCode::kDataLoss &&
         std::string(status.message()).rfind("--resume_from: ", 0) == 0;
}

Status SaveInitialWeights(const JobSpec& spec, const std::string& path) {
  RECA_RETURN_IF_ERROR(ValidateJobSpec(spec));
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> model, InitialModel(spec));
  return SaveModel(*model, path, {{"step", "0"}});
}

Status DumpBatches(const JobSpec& spec, int64_t count, const std::string& path) {
  RECA_RETURN_IF_ERROR(ValidateJobSpec(spec));
  RECA_ASSIGN_OR_RETURN(const auto overrides, ConfigOverrides(spec));
  RECA_ASSIGN_OR_RETURN(std::shared_ptr<UnifiedModel> model,
                        CreateModel(spec.model.family, spec.model.preset, overrides));
  RECA_ASSIGN_OR_RETURN(std::vector<StepBatches> steps,
                        BuildSteps(spec, std::stoi(model->ConfigMap().at("image_size")), count));
  return WriteSafetensors(path, EncodeStepBatches(steps), {{"steps", std::to_string(count)}});
}

StatusOr<TrainSummary> RunTraining(const JobSpec& spec, const RuntimeOptions& rt, std::ostream& log) {
  RECA_RETURN_IF_ERROR(ValidateJobSpec(spec));
  if (rt.threads < 0) return InvalidArgumentError("--threads: must be >= 0");
  const int rank = rt.dist.rank, world = rt.dist.world;
  const bool lead = rank == 0;
  RECA_RETURN_IF_ERROR(MakeDirs(rt.out_dir));
  const int threads = rt.threads > 0 ? rt.threads
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  RECA_ASSIGN_OR_RETURN(c10::Device device, TorchGuardOr("--device", [&] { return c10::Device(rt.device); }));
  if (rt.deterministic) {
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);  // before cuBLAS starts
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }
  g_stop_requested.store(false);
  StopSignals signals;

  // Model and optimizer: from the resume point's checkpoint, if any.
  CheckpointStore store(rt.out_dir + "/checkpoints", rt.epoch);
  const int keep = static_cast<int>(rt.keep_checkpoints >= 0 ? rt.keep_checkpoints : spec.checkpoint.keep);
  RECA_ASSIGN_OR_RETURN(const std::string resume_dir, ResumePoint(rt, store, lead, log));
  // The service's recorded checkpoint, when it cannot be read: not the job's
  // fault (IsUnusableResumeCheckpoint).
  const bool recorded = !rt.resume_from.empty() && rt.resume_from != "none";
  auto unusable = [&](const Status& s) {
    return recorded ? DataLossError("--resume_from: the recorded checkpoint " + resume_dir +
                                    " cannot be used: " + s.ToString())
                    : s;
  };
  std::shared_ptr<UnifiedModel> model;
  std::map<std::string, std::string> resume_files;
  if (!resume_dir.empty()) {
    StatusOr<std::map<std::string, std::string>> files = CheckpointStore::LoadVerified(resume_dir);
    if (!files.ok()) return unusable(files.status());
    resume_files = std::move(*files);
    StatusOr<std::shared_ptr<UnifiedModel>> loaded = CheckpointModel(resume_dir, resume_files);
    if (!loaded.ok()) return unusable(loaded.status());
    model = std::move(*loaded);
    RECA_ASSIGN_OR_RETURN(const auto overrides, ConfigOverrides(spec));
    RECA_ASSIGN_OR_RETURN(model, Reconfigure(model, overrides));
  } else {
    RECA_ASSIGN_OR_RETURN(model, InitialModel(spec));
  }
  RECA_RETURN_IF_ERROR(TorchGuard("moving the model to " + rt.device, [&] { model->to(device); }));
  const std::map<std::string, std::string> cfg = model->ConfigMap();
  const int64_t image_size = std::stoll(cfg.at("image_size"));
  const int64_t max_text = std::stoll(cfg.at("max_text_tokens"));
  if (spec.reca.max_text_tokens > max_text) {
    return InvalidArgumentError("spec.reca.max_text_tokens: " + std::to_string(spec.reca.max_text_tokens) +
                                " exceeds the model's text length (" + std::to_string(max_text) + ")");
  }
  RECA_RETURN_IF_ERROR(ApplyFrozen(*model, spec, log));
  const OptimOptions optim = OptimOf(spec);
  Optimizer opt(*model, optim);

  std::unique_ptr<DataPipeline> data;
  std::vector<StepBatches> replay;
  if (rt.batches_file.empty()) {
    RECA_ASSIGN_OR_RETURN(data, DataPipeline::Open(spec, static_cast<int>(image_size), rank, world, log));
  } else {
    RECA_ASSIGN_OR_RETURN(SafetensorsContents f, ReadSafetensors(rt.batches_file));
    RECA_ASSIGN_OR_RETURN(replay, DecodeStepBatches(f.tensors, rt.batches_file));
  }
  const std::vector<SourceSpec> sources = spec.effective_sources();
  ResumeState start;
  start.sampler.cursors.assign(sources.size(), 0);
  if (!resume_dir.empty()) {
    if (Status s = Restore(resume_dir, resume_files, opt, spec, sources.size(), &start, log); !s.ok()) {
      return s.code() == StatusCode::kDataLoss ? unusable(s) : s;  // else: the spec's fault
    }
    resume_files.clear();
    log << "resuming from " << resume_dir << " at step " << start.step << "\n";
    if (data) data->RestoreStats(start.data);
  }

  RECA_ASSIGN_OR_RETURN(std::unique_ptr<DataParallel> dp, DataParallel::Init(rt.dist, device));
  std::vector<torch::Tensor> params;
  for (const auto& p : model->parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  RECA_RETURN_IF_ERROR(dp->Attach(params));

  double peak = rt.peak_flops;
  if (peak <= 0) {
    RECA_ASSIGN_OR_RETURN(peak, MeasureGemmFlops(device, rt.bf16));
  }

  int64_t num_params = 0;
  for (const auto& p : model->parameters()) num_params += p.numel();
  log << "reca-train: job=" << spec.name << " family=" << model->family() << " preset=" << cfg.at("name")
      << " params=" << num_params << " device=" << rt.device << " threads=" << threads
      << " blas_threads=" << BlasThreads() << " rank=" << rank << "/" << world
      << " backend=" << dp->backend() << " batch_per_rank=" << spec.batch_per_rank
      << " steps=" << spec.steps << " peak=" << Fmt(peak / 1e9, 1) << "GFLOP/s"
      << (rt.peak_flops > 0 ? " (--peak_flops)" : " (measured GEMM)") << "\n";

  HeldOut held = MakeHeldOut(image_size, std::max<int64_t>(16, spec.samples.count), max_text);
  const at::Tensor mismatched = held.images.roll(1, 0);
  auto heldout_loss = [&](bool mismatch) -> StatusOr<double> {
    at::Generator g = StepGenerator(0x4e1d, 0);
    return ReconstructionLoss(*model, held.recon, g, device, mismatch ? mismatched : at::Tensor());
  };
  const bool heldout = lead && rt.heldout;
  double heldout_before = NAN, mismatched_before = NAN;
  if (heldout) {
    RECA_ASSIGN_OR_RETURN(heldout_before, heldout_loss(false));
    RECA_ASSIGN_OR_RETURN(mismatched_before, heldout_loss(true));
    log << "held-out reconstruction loss before: " << Fmt(heldout_before)
        << " (conditioned on another image: " << Fmt(mismatched_before) << ")\n";
  }

  const std::string metrics_path =
      rt.out_dir + (lead ? "/metrics.jsonl" : "/metrics.rank" + std::to_string(rank) + ".jsonl");
  RECA_RETURN_IF_ERROR(TrimMetrics(metrics_path, start.step));
  std::ofstream metrics(metrics_path, std::ios::app);
  if (!metrics) return InternalError(metrics_path + ": cannot open for appending");

  const LossWeights weights = WeightsOf(spec);
  const int64_t end = spec.steps;
  if (data) data->Start(start.step, end, start.sampler);
  SamplerState sampler = start.sampler;

  // The copy-collapse detector (rank 0); its level is kept in checkpoints.
  CollapseMonitor collapse(held.recon, held.t2i, spec.reca.collapse_ratio, start.collapse_t2i_level, device);
  // Copying is a risk of reconstruction batches only (pre-training without
  // them would raise false alarms as its generator learns).
  const bool check_collapse = lead && spec.reca.collapse_every > 0 && HasTask(spec, "recon");
  if (check_collapse) RECA_RETURN_IF_ERROR(collapse.Start(*model, log));

  // Rank 0 writes; every rank then waits for it in a barrier with a long
  // timeout, so a slow disk is not mistaken for a dead peer.
  auto commit = [&](int64_t step) -> Status {
    // Every rank has written (and flushed) its metrics line of `step` before
    // rank 0 commits: a resumed run never redoes the steps of its checkpoint,
    // so a rank killed between its step and its line would leave a gap.
    RECA_RETURN_IF_ERROR(dp->Barrier(rt.slow_barrier_timeout_s));
    if (!lead) return dp->Barrier(rt.slow_barrier_timeout_s);
    const auto t0 = Clock::now();
    RECA_ASSIGN_OR_RETURN(auto files, CheckpointFiles(*model, opt, spec, step, sampler,
                                                      data ? data->stats() : DataStats{}, world, collapse.level()));
    int64_t bytes = 0;
    for (const auto& [name, content] : files) bytes += static_cast<int64_t>(content.size());
    RECA_ASSIGN_OR_RETURN(std::string dir, store.Commit(step, files, keep));
    const double s = Seconds(t0, Clock::now());
    log << "checkpoint " << dir << " committed (" << Fmt(bytes / 1e6, 1) << " MB in " << Fmt(s, 2) << " s)\n";
    log.flush();  // in the log even if the process is killed soon after
    return dp->Barrier(rt.slow_barrier_timeout_s);
  };

  model->train();
  TrainSummary summary;
  summary.first_step = start.step;
  summary.peak_flops = peak;
  double timed_seconds = 0, timed_samples = 0, timed_flops = 0, timed_wait = 0, timed_allreduce = 0;
  int64_t timed_steps = 0;
  double window_loss = 0;
  std::vector<double> window_source(sources.size(), 0.0), window_source_n(sources.size(), 0.0);
  int64_t window = 0;
  const auto run_start = Clock::now();
  int64_t step = start.step;
  while (step < end) {
    const auto t0 = Clock::now();
    StepBatches batches;
    double wait_s = 0;
    if (data) {
      RECA_ASSIGN_OR_RETURN(PreparedStep prepared, data->Next(&wait_s));
      batches = std::move(prepared.batches);
      sampler = prepared.after;
    } else {
      batches = replay[static_cast<size_t>(step) % replay.size()];
    }
    at::Generator gen = StepGenerator(spec.seed, static_cast<uint64_t>(step));
    RECA_ASSIGN_OR_RETURN(StepLosses losses,
                          AccumulateRecaGradients(*model, batches, weights, gen, device, rt.bf16,
                                                  [&] { dp->Arm(); }));
    RECA_ASSIGN_OR_RETURN(AllReduceTiming comm, dp->Finish());
    // One small all-reduce: the step's losses, the step number (the ranks
    // must agree: equal sums of s and s^2 mean equal s everywhere) and any
    // rank's stop request (SIGTERM, or --stop_after reached).
    const double s = static_cast<double>(step);
    const bool stop_after_reached = rt.stop_after > 0 && step + 1 - start.step >= rt.stop_after;
    std::vector<double> local = {losses.total, s, s * s, g_stop_requested.load() ? 1.0 : 0.0,
                                 stop_after_reached ? 1.0 : 0.0};
    constexpr size_t kPerSource = 5;  // per-source sums and counts follow
    for (size_t i = 0; i < sources.size(); ++i) {
      double sum = 0, n = 0;
      for (const auto& [src, v] : losses.per_batch) {
        if (src == static_cast<int>(i)) sum += v, n += 1;
      }
      local.push_back(sum);
      local.push_back(n);
    }
    RECA_ASSIGN_OR_RETURN(std::vector<double> global, dp->AllReduceSum(local));
    if (global[1] != s * world || global[2] != s * s * world) {
      return InternalError("ranks disagree on the step number at step " + std::to_string(step));
    }
    const double loss = global[0] / world;
    if (!std::isfinite(loss)) {
      return FailedPreconditionError("loss is not finite at step " + std::to_string(step) +
                                     " (try a lower spec.optimizer.lr)");
    }
    RECA_ASSIGN_OR_RETURN(double gnorm, opt.Step(step));
    const double lr = LearningRateAt(optim, step);
    ++step;
    const bool sigterm = global[3] > 0, stop = sigterm || global[4] > 0;
    const double step_s = Seconds(t0, Clock::now());
    if (step - 1 > start.step) {  // the first step pays one-time allocation costs
      timed_seconds += step_s;
      timed_samples += losses.samples;
      timed_flops += 3.0 * losses.forward_flops;
      timed_wait += wait_s;
      timed_allreduce += comm.exposed_seconds;
      ++timed_steps;
    }
    window_loss += loss;
    ++window;
    nlohmann::ordered_json by_source = nlohmann::ordered_json::object();
    for (size_t i = 0; i < sources.size(); ++i) {
      const double n = global[kPerSource + 2 * i + 1];
      if (n > 0) {
        const double v = global[kPerSource + 2 * i] / n;
        by_source[sources[i].name] = v;
        window_source[i] += v;
        window_source_n[i] += 1;
      }
    }
    const double samples_per_s = losses.samples * world / step_s;
    nlohmann::ordered_json line{{"step", step},
                                {"rank", rank},
                                {"loss", loss},
                                {"loss_by_source", by_source},
                                {"samples_per_s", samples_per_s},
                                {"step_s", step_s},
                                {"data_wait_s", wait_s},
                                {"allreduce_s", comm.exposed_seconds},
                                {"model_flops_per_s", 3.0 * losses.forward_flops / step_s},
                                {"mfu", 3.0 * losses.forward_flops / step_s / peak},
                                {"lr", lr},
                                {"grad_norm", gnorm}};
    if (check_collapse && (step % spec.reca.collapse_every == 0 || step == end)) {
      RECA_RETURN_IF_ERROR(collapse.Check(*model, step, &line, log));
    }
    metrics << line.dump() << "\n";
    metrics.flush();
    if (!metrics) return InternalError(metrics_path + ": write failed");
    summary.last_loss = loss;
    if (lead && (step % spec.log_every == 0 || step == start.step + 1 || step == end)) {
      log << "step " << std::setw(5) << step << "/" << end << " | loss " << Fmt(window_loss / window);
      for (size_t i = 0; i < sources.size(); ++i) {
        if (window_source_n[i] > 0) log << " | " << sources[i].name << " " << Fmt(window_source[i] / window_source_n[i]);
      }
      log << " | lr " << std::scientific << std::setprecision(2) << lr << std::defaultfloat << " | gnorm "
          << Fmt(gnorm, 3) << " | " << Fmt(samples_per_s, 1) << " samples/s | step "
          << Fmt(step_s * 1e3, 0) << " ms | data wait " << Fmt(wait_s * 1e3, 1) << " ms";
      if (world > 1) log << " | all-reduce " << Fmt(comm.exposed_seconds * 1e3, 1) << " ms";
      if (!std::isnan(collapse.last_ratio())) log << " | recon/t2i " << Fmt(collapse.last_ratio(), 3);
      log << "\n";
      log.flush();
      window_loss = 0;
      window = 0;
      std::fill(window_source.begin(), window_source.end(), 0.0);
      std::fill(window_source_n.begin(), window_source_n.end(), 0.0);
    }
    if (lead && rt.progress) DrawProgress(step, start.step, end, loss, Seconds(run_start, Clock::now()));
    if (stop && step < end) {
      if (data) data->Stop();
      RECA_RETURN_IF_ERROR(commit(step));
      log << (sigterm ? "stop requested (SIGTERM)" : "stop_after reached") << ": checkpoint at step "
          << step << " committed; rerun the same command to resume\n";
      log.flush();
      summary.stopped_early = true;
      break;
    }
    if (spec.checkpoint.every > 0 && step % spec.checkpoint.every == 0 && step < end) {
      RECA_RETURN_IF_ERROR(commit(step));
    }
    if (spec.samples.every > 0 && step % spec.samples.every == 0 && step < end) {
      if (lead) {
        RECA_RETURN_IF_ERROR(WriteGrids(*model, spec, rt.out_dir, held, "step" + std::to_string(step), device, log));
      }
      RECA_RETURN_IF_ERROR(dp->Barrier(rt.slow_barrier_timeout_s));  // the others wait for rank 0
    }
  }
  if (data) data->Stop();
  summary.steps = step;
  summary.bad_samples = data ? data->stats().bad_samples : 0;
  if (timed_steps > 0) {
    summary.mean_step_seconds = timed_seconds / timed_steps;
    summary.samples_per_second = timed_samples / timed_seconds;
    summary.model_flops_per_second = timed_flops / timed_seconds;
    summary.mfu = summary.model_flops_per_second / peak;
    summary.data_wait_share = timed_wait / timed_seconds;
    summary.allreduce_share = timed_allreduce / timed_seconds;
  }
  if (summary.stopped_early) return summary;
  if (step > start.step || resume_dir.empty()) RECA_RETURN_IF_ERROR(commit(step));
  if (!lead) return summary;
  if (heldout) {
    RECA_ASSIGN_OR_RETURN(summary.heldout_recon_loss, heldout_loss(false));
    RECA_ASSIGN_OR_RETURN(summary.heldout_recon_loss_mismatched, heldout_loss(true));
    log << "held-out reconstruction loss after: " << Fmt(summary.heldout_recon_loss)
        << " (conditioned on another image: " << Fmt(summary.heldout_recon_loss_mismatched)
        << "; before: " << Fmt(heldout_before) << " / " << Fmt(mismatched_before) << ")\n";
  }
  log << "throughput: " << Fmt(summary.samples_per_second * world, 1) << " samples/s (" << world
      << " rank" << (world > 1 ? "s" : "") << "), " << Fmt(summary.mean_step_seconds * 1e3, 1)
      << " ms/step, data wait " << Fmt(summary.data_wait_share * 100, 1) << "%, all-reduce "
      << Fmt(summary.allreduce_share * 100, 1) << "%, " << Fmt(summary.model_flops_per_second / 1e9, 1)
      << " model GFLOP/s per rank (MFU " << Fmt(summary.mfu * 100, 1) << "%); bad samples skipped: " << summary.bad_samples << "\n";

  const std::string final_weights = rt.out_dir + "/model.safetensors";
  RECA_RETURN_IF_ERROR(SaveModel(*model, final_weights, {{"step", std::to_string(step)}, {"job", spec.name}}));
  log << "wrote " << final_weights << "\n";
  if (!opt.ema().empty()) {
    std::map<std::string, at::Tensor> ema(opt.ema().begin(), opt.ema().end());
    RECA_RETURN_IF_ERROR(WriteSafetensors(rt.out_dir + "/ema.safetensors", ema, model->ConfigMap()));
    log << "wrote " << rt.out_dir << "/ema.safetensors\n";
  }
  RECA_RETURN_IF_ERROR(WriteGrids(*model, spec, rt.out_dir, held, "final", device, log));
  return summary;
}

}  // namespace reca
