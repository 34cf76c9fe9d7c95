#include "reca/eval/eval_runner.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <sys/stat.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "reca/batch.h"
#include "reca/ckpt/checkpoint_store.h"
#include "reca/eval/image_metrics.h"
#include "reca/file_util.h"
#include "reca/image_io.h"
#include "reca/model_io.h"
#include "reca/objective.h"
#include "reca/rng.h"
#include "reca/shapes_world.h"
#include "reca/tokenizer.h"
#include "reca/torch_guard.h"

namespace reca {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

constexpr double kMaxPsnr = 100.0;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

std::string Fmt(double v, int precision = 4) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}

// The trainer's generator scheme (reca/trainer.cc StepGenerator): a pure
// function of (seed, n).
at::Generator SeededGenerator(uint64_t seed, uint64_t n) {
  return at::detail::createCPUGenerator(
      SplitMix64(seed * 0x9E3779B97F4A7C15ull + n));
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

struct Loaded {
  std::shared_ptr<UnifiedModel> model;
  int64_t step = -1;
};

StatusOr<Loaded> LoadCheckpoint(const std::string& path) {
  Loaded out;
  if (!IsDirectory(path)) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      return NotFoundError(path + ": no such checkpoint directory or file");
    RECA_ASSIGN_OR_RETURN(out.model, LoadModel(path));
    return out;
  }
  RECA_ASSIGN_OR_RETURN(auto files, CheckpointStore::LoadVerified(path));
  auto it = files.find("model.safetensors");
  if (it == files.end())
    return DataLossError(path + ": checkpoint has no model.safetensors");
  RECA_ASSIGN_OR_RETURN(out.model,
                        DecodeModel(it->second, path + "/model.safetensors"));
  if (auto st = files.find("state.json"); st != files.end()) {
    const nlohmann::json state =
        nlohmann::json::parse(st->second, nullptr, false);
    if (state.is_object() && state.contains("step") &&
        state["step"].is_number_integer()) {
      out.step = state["step"].get<int64_t>();
    }
  }
  return out;
}

std::vector<RgbImage> ToRgb(const at::Tensor& images) {
  std::vector<RgbImage> out;
  const int h = static_cast<int>(images.size(2)),
            w = static_cast<int>(images.size(3));
  for (auto& px : TensorToImages(images)) out.push_back({w, h, std::move(px)});
  return out;
}

RgbImage SceneImage(const Scene& scene) {
  return {scene.image_size, scene.image_size, ShapesWorld::Render(scene)};
}

Prefix TextPrefix(UnifiedModel& model, const Tokenizer& tok,
                  const std::vector<std::string>& texts, int64_t max_text,
                  const c10::Device& device) {
  PromptIds ids = MakePromptIds(tok, texts, max_text);
  return model.AssemblePrefix({ids.pre.to(device), ids.post.to(device)},
                              at::Tensor());
}

Json DetectionsJson(const std::vector<ShapeDetection>& dets) {
  Json out = Json::array();
  for (const ShapeDetection& d : dets) {
    out.push_back(Json{{"class", ShapeKindName(d.kind)},
                       {"color", ColorNameString(d.color)},
                       {"box", {d.box.x0, d.box.y0, d.box.x1, d.box.y1}},
                       {"score", d.confidence}});
  }
  return out;
}

StatusOr<ShapesEvalScores> RunShapesEval(UnifiedModel& model,
                                         const EvalOptions& o,
                                         int64_t image_size, int64_t max_text,
                                         const c10::Device& device,
                                         std::ostream& log) {
  const auto t0 = Clock::now();
  const std::vector<ShapesEvalPrompt> prompts =
      ShapesEvalPrompts(o.prompts_per_tag);
  const int ipp = o.images_per_prompt;
  const int size = static_cast<int>(image_size);
  log << "shapes_eval: " << prompts.size() << " prompts x " << ipp
      << " images, sampling " << o.sampling.num_iter << " iters x "
      << o.sampling.diffusion_steps << " diffusion steps, cfg "
      << o.sampling.cfg << ", temperature " << o.sampling.temperature << "\n";
  log.flush();
  Tokenizer tok;
  ShapesDetector detector;
  std::vector<GenEvalScoredImage> scored;
  std::string details;  // shapes_eval.jsonl
  std::vector<std::vector<RgbImage>> grid;
  std::vector<std::string> grid_lines;
  RECA_ASSIGN_OR_RETURN(
      Prefix uncond, TorchGuardOr("shapes_eval: unconditional prompt", [&] {
        torch::NoGradGuard no_grad;
        return TextPrefix(model, tok,
                          std::vector<std::string>(ipp, kUncondPrompt),
                          max_text, device);
      }));
  for (const ShapesEvalPrompt& p : prompts) {
    RECA_ASSIGN_OR_RETURN(
        const std::vector<std::vector<uint8_t>> pixels,
        TorchGuardOr("shapes_eval: generating '" + p.text + "'", [&] {
          torch::NoGradGuard no_grad;
          Prefix cond =
              TextPrefix(model, tok,
                         std::vector<std::string>(
                             ipp, std::string(kT2IPrefix) + " " + p.text),
                         max_text, device);
          const uint64_t stable_id =
              (static_cast<uint64_t>(p.tag_index) << 32) |
              static_cast<uint64_t>(p.index_in_tag);
          at::Generator gen = SeededGenerator(o.seed, stable_id);
          return TensorToImages(
              model.Generate(cond, uncond, o.sampling, gen).to(at::kCPU));
        }));
    const bool in_grid = p.index_in_tag < o.grid_prompts_per_tag;
    std::vector<RgbImage> row;
    std::string flags;
    if (in_grid)
      row.push_back(SceneImage(ShapesEvalReferenceScene(p, size, 0)));
    for (int i = 0; i < ipp; ++i) {
      const ShapesEvalImageScore s =
          ScoreShapesEvalImage(p, pixels[i], size, size, detector, o.geneval);
      scored.push_back({p.index, p.metadata.tag, s.correct});
      details += Json{{"prompt_index", p.index},
                      {"tag", p.metadata.tag},
                      {"prompt", p.text},
                      {"image", i},
                      {"correct", s.correct},
                      {"reason", s.reason},
                      {"detections", DetectionsJson(s.detections)}}
                     .dump() +
                 "\n";
      if (in_grid) {
        row.push_back({size, size, pixels[i]});
        flags += s.correct ? "+" : "-";
      }
    }
    if (in_grid) {
      grid_lines.push_back("  row " + std::to_string(grid.size()) + " [" +
                           p.metadata.tag + "] " + flags + " " + p.text);
      grid.push_back(std::move(row));
    }
  }
  const GenEvalSummary summary = SummarizeGenEval(scored);
  ShapesEvalScores out;
  out.overall = summary.overall;
  for (const std::string& tag : ShapesEvalTags()) {
    double acc = 0;
    for (const GenEvalTagScore& t : summary.tags) {
      if (t.tag == tag) acc = t.accuracy;
    }
    out.tags.emplace_back(tag, acc);
  }
  out.prompts = static_cast<int>(prompts.size());
  out.images = summary.images;
  const std::string grid_path = o.out_dir + "/shapes_eval.png";
  RECA_RETURN_IF_ERROR(WritePngGrid(grid_path, grid));
  RECA_RETURN_IF_ERROR(
      WriteFileAtomic(o.out_dir + "/shapes_eval.jsonl", details));
  out.seconds = Seconds(t0);
  log << "wrote " << grid_path
      << " (first column: a reference scene satisfying the prompt; then the "
      << ipp << " generated images; +/- = judged correct/wrong):\n";
  for (const std::string& l : grid_lines) log << l << "\n";
  log << "wrote " << o.out_dir
      << "/shapes_eval.jsonl (every image: detections, correct, reason)\n";
  log << "shapes_eval: overall " << Fmt(out.overall);
  for (const auto& [tag, acc] : out.tags)
    log << " | " << tag << " " << Fmt(acc, 3);
  log << " (" << out.images << " images, " << Fmt(out.seconds, 1) << " s)\n";
  return out;
}

StatusOr<ReconScores> RunRecon(UnifiedModel& model, const EvalOptions& o,
                               const std::map<std::string, std::string>& cfg,
                               const c10::Device& device, std::ostream& log) {
  const auto t0 = Clock::now();
  const int64_t image_size = std::stoll(cfg.at("image_size"));
  const int64_t max_text = std::stoll(cfg.at("max_text_tokens"));
  const int n = o.recon_images;
  // The trainer's held-out set (reca/trainer.cc MakeHeldOut): scenes 0.. of a
  // world with a fixed seed, reconstruction template 0.
  ShapesWorld world(
      ShapesWorldOptions{0x4e1d007ull, static_cast<int>(image_size)});
  std::vector<std::vector<uint8_t>> inputs;
  for (int i = 0; i < n; ++i)
    inputs.push_back(
        ShapesWorld::Render(world.SceneAt(static_cast<uint64_t>(i))));
  Tokenizer tok;
  ReconBatch batch;
  batch.images = ImagesToTensor(inputs, image_size);
  batch.prompt = MakePromptIds(
      tok, std::vector<std::string>(n, ReconTemplates()[0]), max_text);
  // The trainer's held-out loss generator: StepGenerator(0x4e1d, 0).
  at::Generator loss_gen = SeededGenerator(0x4e1d, 0);
  RECA_ASSIGN_OR_RETURN(double loss,
                        ReconstructionLoss(model, batch, loss_gen, device));

  at::Tensor recon, view;
  std::vector<std::vector<uint8_t>> out_px;
  std::vector<RgbImage> input_row, view_row, recon_row;
  RECA_RETURN_IF_ERROR(
      TorchGuard("recon: reconstructing the held-out images", [&] {
        torch::NoGradGuard no_grad;
        at::Tensor images = batch.images.to(device);
        Prefix cond = model.AssemblePrefix(
            {batch.prompt.pre.to(device), batch.prompt.post.to(device)},
            model.UnderstandingEmbed(images));
        SampleOptions opts = o.sampling;
        opts.cfg = 1.0;  // no text to guide by
        at::Generator gen = SeededGenerator(o.seed ^ 0x7265636f6eull, 0);
        recon = model.Generate(cond, cond, opts, gen).to(at::kCPU);
        // What the understanding side sees: its lower-resolution view.
        auto und = cfg.find("und_image_size");
        const int64_t f =
            und == cfg.end()
                ? 1
                : image_size / std::max<int64_t>(1, std::stoll(und->second));
        view = f > 1 ? at::avg_pool2d(batch.images, {f, f})
                           .repeat_interleave(f, 2)
                           .repeat_interleave(f, 3)
                     : batch.images;
        out_px = TensorToImages(recon);
        input_row = ToRgb(batch.images);
        view_row = ToRgb(view);
        recon_row = ToRgb(recon);
      }));
  const ImageShape shape{static_cast<int>(image_size),
                         static_cast<int>(image_size), 3};
  ReconScores r;
  for (int i = 0; i < n; ++i) {
    RECA_ASSIGN_OR_RETURN(double psnr, Psnr(inputs[i], out_px[i], shape));
    RECA_ASSIGN_OR_RETURN(double ssim, Ssim(inputs[i], out_px[i], shape));
    r.psnr += std::min(psnr, kMaxPsnr) / n;
    r.ssim += ssim / n;
  }
  r.heldout_loss = loss;
  r.images = n;
  const std::string grid_path = o.out_dir + "/recon.png";
  RECA_RETURN_IF_ERROR(
      WritePngGrid(grid_path, {input_row, view_row, recon_row}));
  r.seconds = Seconds(t0);
  log << "wrote " << grid_path
      << " (rows: input, the low-resolution view the understanding encoder "
         "gets, reconstruction from its embedding)\n";
  log << "recon: PSNR " << Fmt(r.psnr, 2) << " dB | SSIM " << Fmt(r.ssim)
      << " | held-out loss " << Fmt(r.heldout_loss) << " (" << n << " images, "
      << Fmt(r.seconds, 1) << " s)\n";
  return r;
}

// Edits the fixed ShapesEdit pairs, 8 at a time (one per category; each
// chunk's sampling generator is keyed by its first pair), and judges them.
StatusOr<ShapesEditSummary> RunShapesEdit(UnifiedModel& model, const EvalOptions& o,
                                          int64_t image_size, int64_t max_text,
                                          const c10::Device& device, std::ostream& log) {
  const int size = static_cast<int>(image_size);
  const std::vector<EditPair> pairs = ShapesEditPairs(o.edit_pairs_per_category, size);
  SampleOptions opts = o.sampling;
  opts.image_cfg = model.SupportsImageGuidance() ? o.image_cfg : 1.0;
  if (!model.SupportsImageGuidance() && o.image_cfg != 1.0) {
    log << "shapes_edit: the " << model.family()
        << " family has no guidance on the source image; --image_cfg ignored\n";
  }
  Tokenizer tok;
  std::vector<std::vector<uint8_t>> sources, edited;
  for (const EditPair& p : pairs) sources.push_back(ShapesWorld::Render(p.source));
  for (size_t first = 0; first < pairs.size(); first += kNumEditCategories) {
    const size_t n = std::min<size_t>(kNumEditCategories, pairs.size() - first);
    std::vector<std::vector<uint8_t>> chunk(sources.begin() + first, sources.begin() + first + n);
    std::vector<std::string> instructions;
    for (size_t i = first; i < first + n; ++i) instructions.push_back(pairs[i].dense_instruction);
    RECA_ASSIGN_OR_RETURN(
        std::vector<std::vector<uint8_t>> out,
        TorchGuardOr("shapes_edit: editing pairs " + std::to_string(first) + "..", [&] {
          torch::NoGradGuard no_grad;
          at::Generator gen = SeededGenerator(o.seed ^ 0xed17ull, first);
          return TensorToImages(GenerateEdits(model, tok, ImagesToTensor(chunk, image_size).to(device),
                                              instructions, max_text, opts, gen)
                                    .to(at::kCPU));
        }));
    for (auto& img : out) edited.push_back(std::move(img));
  }
  std::vector<ShapesEditImageScore> per_pair;
  RECA_ASSIGN_OR_RETURN(
      ShapesEditSummary summary,
      RunShapesEditSuite(
          pairs,
          [&](const EditPair& p, const std::vector<uint8_t>&) -> StatusOr<std::vector<uint8_t>> {
            return edited.at(static_cast<size_t>(p.index));  // ShapesEditPairs: index = position
          },
          ShapesDetector(), ShapesEditScoreOptions(), &per_pair));
  std::string details;
  std::vector<std::vector<RgbImage>> grid;
  std::vector<std::string> grid_lines;
  for (size_t i = 0; i < pairs.size(); ++i) {
    details += ShapesEditResultJson(pairs[i], per_pair[i]) + "\n";
    if (i < static_cast<size_t>(kNumEditCategories)) {  // the first pair of every category
      grid.push_back({{size, size, sources[i]},
                      {size, size, ShapesWorld::Render(pairs[i].target)},
                      {size, size, edited[i]}});
      grid_lines.push_back(std::string("  row ") + std::to_string(i) + " [" +
                           EditCategoryName(pairs[i].category) + "] " +
                           (per_pair[i].correct ? "+" : "-") + " " + pairs[i].dense_instruction);
    }
  }
  const std::string grid_path = o.out_dir + "/shapes_edit.png";
  RECA_RETURN_IF_ERROR(WritePngGrid(grid_path, grid));
  RECA_RETURN_IF_ERROR(WriteFileAtomic(o.out_dir + "/shapes_edit.jsonl", details));
  log << "wrote " << grid_path << " (per row: source, the exact target, edited; +/- = judged "
      << "correct/wrong):\n";
  for (const std::string& l : grid_lines) log << l << "\n";
  log << "wrote " << o.out_dir << "/shapes_edit.jsonl (every pair: correct, carried out, "
      << "preserved, masked PSNR, failures)\n";
  log << "shapes_edit: overall " << Fmt(summary.overall);
  for (const ShapesEditCategoryScore& c : summary.categories) log << " | " << c.category << " " << Fmt(c.accuracy, 3);
  log << " | carried out " << Fmt(summary.carried_out, 3) << " | preserved " << Fmt(summary.preserved, 3)
      << " | masked PSNR " << Fmt(summary.masked_psnr, 2) << " dB (" << summary.pairs << " pairs, guidance "
      << opts.cfg << " text / " << opts.image_cfg << " image)\n";
  return summary;
}

}  // namespace

Status ValidateEvalOptions(const EvalOptions& o) {
  if (o.checkpoint.empty())
    return InvalidArgumentError("--checkpoint: required");
  if (o.out_dir.empty()) return InvalidArgumentError("--out: required");
  if (o.suites.empty())
    return InvalidArgumentError(
        "--suites: name at least one of shapes_eval, recon, shapes_edit");
  for (const std::string& s : o.suites) {
    if (s != kShapesEvalSuite && s != kReconSuite && s != kShapesEditSuite) {
      return InvalidArgumentError("--suites: unknown suite '" + s +
                                  "' (expected shapes_eval, recon, shapes_edit)");
    }
  }
  if (o.edit_pairs_per_category < 1)
    return InvalidArgumentError("--edit_pairs_per_category: must be >= 1");
  if (!(o.image_cfg >= 1))
    return InvalidArgumentError("--image_cfg: must be >= 1");
  if (o.threads < 0) return InvalidArgumentError("--threads: must be >= 0");
  if (o.images_per_prompt < 1)
    return InvalidArgumentError("--images_per_prompt: must be >= 1");
  if (o.prompts_per_tag < 1)
    return InvalidArgumentError("--prompts_per_tag: must be >= 1");
  if (o.recon_images < 1)
    return InvalidArgumentError("--recon_images: must be >= 1");
  if (o.grid_prompts_per_tag < 0)
    return InvalidArgumentError("--grid_prompts_per_tag: must be >= 0");
  if (o.sampling.num_iter < 1)
    return InvalidArgumentError("--iters: must be >= 1");
  if (o.sampling.diffusion_steps < 1)
    return InvalidArgumentError("--diffusion_steps: must be >= 1");
  if (!(o.sampling.cfg >= 1))
    return InvalidArgumentError("--cfg: must be >= 1");
  if (!(o.sampling.temperature > 0))
    return InvalidArgumentError("--temperature: must be > 0");
  return ValidateGenEvalOptions(o.geneval);
}

StatusOr<EvalReport> RunEval(const EvalOptions& o, std::ostream& log) {
  RECA_RETURN_IF_ERROR(ValidateEvalOptions(o));
  RECA_RETURN_IF_ERROR(MakeDirs(o.out_dir));
  const int threads =
      o.threads > 0
          ? o.threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  RECA_ASSIGN_OR_RETURN(c10::Device device, TorchGuardOr("--device", [&] {
                          return c10::Device(o.device);
                        }));
  RECA_ASSIGN_OR_RETURN(Loaded loaded, LoadCheckpoint(o.checkpoint));
  UnifiedModel& model = *loaded.model;
  RECA_RETURN_IF_ERROR(TorchGuard("moving the model to " + o.device, [&] {
    model.to(device);
    model.eval();
  }));
  const std::map<std::string, std::string> cfg = model.ConfigMap();
  for (const char* key : {"image_size", "max_text_tokens"}) {
    if (!cfg.count(key))
      return InvalidArgumentError(o.checkpoint + ": model config has no " +
                                  key);
  }
  log << "reca-eval: checkpoint " << o.checkpoint << " (step " << loaded.step
      << ", family " << model.family() << ", preset "
      << (cfg.count("name") ? cfg.at("name") : "?") << ") device=" << o.device
      << " threads=" << threads << " seed=" << o.seed << "\n";

  EvalReport report;
  report.options = o;
  report.checkpoint = o.checkpoint;
  report.step = loaded.step;
  auto wants = [&](const char* s) {
    return std::find(o.suites.begin(), o.suites.end(), s) != o.suites.end();
  };
  if (wants(kShapesEvalSuite)) {
    RECA_ASSIGN_OR_RETURN(
        report.shapes_eval,
        RunShapesEval(model, o, std::stoll(cfg.at("image_size")),
                      std::stoll(cfg.at("max_text_tokens")), device, log));
  }
  if (wants(kReconSuite)) {
    RECA_ASSIGN_OR_RETURN(report.recon, RunRecon(model, o, cfg, device, log));
  }
  if (wants(kShapesEditSuite)) {
    const auto t0 = Clock::now();
    RECA_ASSIGN_OR_RETURN(
        report.shapes_edit,
        RunShapesEdit(model, o, std::stoll(cfg.at("image_size")),
                      std::stoll(cfg.at("max_text_tokens")), device, log));
    report.shapes_edit_seconds = Seconds(t0);
  }
  const std::string path = o.out_dir + "/scores.json";
  RECA_RETURN_IF_ERROR(WriteFileAtomic(path, EvalReportJson(report)));
  log << "wrote " << path << "\n";
  return report;
}

std::string EvalReportJson(const EvalReport& r) {
  Json suites = Json::object();
  if (r.shapes_eval) {
    Json tags = Json::object();
    for (const auto& [tag, acc] : r.shapes_eval->tags) tags[tag] = acc;
    suites[kShapesEvalSuite] = Json{{"overall", r.shapes_eval->overall},
                                    {"tags", tags},
                                    {"prompts", r.shapes_eval->prompts},
                                    {"images", r.shapes_eval->images},
                                    {"seconds", r.shapes_eval->seconds}};
  }
  if (r.recon) {
    suites[kReconSuite] = Json{{"psnr", r.recon->psnr},
                               {"ssim", r.recon->ssim},
                               {"heldout_loss", r.recon->heldout_loss},
                               {"images", r.recon->images},
                               {"seconds", r.recon->seconds}};
  }
  if (r.shapes_edit) {
    Json j = Json::parse(ShapesEditSummaryJson(*r.shapes_edit));
    j["seconds"] = r.shapes_edit_seconds;
    suites[kShapesEditSuite] = j;
  }
  const EvalOptions& o = r.options;
  Json settings = {{"seed", o.seed},
                   {"images_per_prompt", o.images_per_prompt},
                   {"prompts_per_tag", o.prompts_per_tag},
                   {"iters", o.sampling.num_iter},
                   {"diffusion_steps", o.sampling.diffusion_steps},
                   {"cfg", o.sampling.cfg},
                   {"temperature", o.sampling.temperature},
                   {"recon_images", o.recon_images},
                   {"edit_pairs_per_category", o.edit_pairs_per_category},
                   {"image_cfg", o.image_cfg},
                   {"device", o.device},
                   {"threads", o.threads}};
  if (r.shapes_eval) {
    settings["geneval_threshold"] = o.geneval.threshold;
    settings["geneval_counting_threshold"] = o.geneval.counting_threshold;
    settings["geneval_max_objects"] = o.geneval.max_objects;
    settings["geneval_max_overlap"] = o.geneval.max_overlap;
    settings["geneval_position_threshold"] = o.geneval.position_threshold;
  }
  return Json{{"checkpoint", r.checkpoint},
              {"step", r.step},
              {"suites", suites},
              {"settings", settings}}
             .dump(2) +
         "\n";
}

}  // namespace reca
