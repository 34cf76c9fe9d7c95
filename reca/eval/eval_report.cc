#include "reca/eval/eval_report.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "reca/ckpt/checkpoint_store.h"
#include "reca/data/dataset.h"
#include "reca/file_util.h"
#include "reca/image_io.h"

namespace reca {
namespace {

constexpr const char* kScores = "scores.json";
// The grids reca-eval writes, in report order.
constexpr const char* kGrids[] = {"shapes_eval.png", "recon.png", "shapes_edit.png"};
// Bookkeeping in scores.json that is not a measurement.
bool IsBookkeeping(const std::string& key) {
  return key == "prompts" || key == "images" || key == "seconds";
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// One suite's metrics in file order: "overall", the tags by name, "psnr", ...
using Metrics = std::vector<std::pair<std::string, double>>;

// ordered_json: metrics and suites keep scores.json's order (overall first,
// then the tags in ShapesEval's order).
using Json = nlohmann::ordered_json;

void Flatten(const Json& j, const std::string& prefix, Metrics* out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (IsBookkeeping(it.key())) continue;
    // ShapesEval's per-tag scores read better as the bare tag name.
    const std::string name = it.key() == "tags" ? prefix : prefix + it.key();
    if (it->is_object()) {
      Flatten(*it, it.key() == "tags" ? prefix : name + ".", out);
    } else if (it->is_number()) {
      out->emplace_back(name, it->get<double>());
    }
  }
}

struct StepScores {
  int64_t step = 0;
  std::string dir;
  std::vector<std::pair<std::string, Metrics>> suites;  // file order
  Json settings;

  const Metrics* Find(const std::string& suite) const {
    for (const auto& [name, metrics] : suites) {
      if (name == suite) return &metrics;
    }
    return nullptr;
  }
};

StatusOr<StepScores> LoadScores(const ScoredStep& s) {
  const std::string path = s.dir + "/" + kScores;
  RECA_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLossError(path + ": not a JSON object");
  }
  StepScores out;
  out.step = s.step;
  out.dir = s.dir;
  auto suites = j.find("suites");
  if (suites == j.end() || !suites->is_object()) {
    return DataLossError(path + ": no \"suites\" object");
  }
  for (auto it = suites->begin(); it != suites->end(); ++it) {
    if (!it->is_object())
      return DataLossError(path + ": suites." + it.key() + " is not an object");
    out.suites.emplace_back(it.key(), Metrics{});
    Flatten(*it, "", &out.suites.back().second);
  }
  if (auto st = j.find("settings"); st != j.end()) out.settings = *st;
  return out;
}

std::string Fixed(double v, int digits, bool sign = false) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), sign ? "%+.*f" : "%.*f", digits, v);
  return buf;
}

// PSNR is in dB; the rest are fractions or losses.
int DigitsFor(const std::string& metric) { return metric == "psnr" ? 2 : 3; }

std::string StepLabel(int64_t step) {
  return step == 0 ? std::string("step 0 (base)")
                   : "step " + std::to_string(step);
}

std::string Markdown(const StepScores& a, const StepScores& b, bool have_png,
                     const std::vector<std::string>& grids) {
  std::ostringstream md;
  md << "# Evaluation report: " << StepLabel(a.step) << " → "
     << StepLabel(b.step) << "\n\n";
  md << "| suite | metric | " << StepLabel(a.step) << " | " << StepLabel(b.step)
     << " | change |\n|---|---|---|---|---|\n";
  for (const auto& [suite, metrics] : b.suites) {
    const Metrics* before = a.Find(suite);
    for (const auto& [name, value] : metrics) {
      const int d = DigitsFor(name);
      std::string first = "-", change = "-";
      if (before != nullptr) {
        for (const auto& [n0, v0] : *before) {
          if (n0 != name) continue;
          first = Fixed(v0, d);
          change = Fixed(value - v0, d, /*sign=*/true);
        }
      }
      md << "| " << suite << " | " << name << " | " << first << " | "
         << Fixed(value, d) << " | " << change << " |\n";
    }
  }
  for (const auto& [suite, metrics] : a.suites) {
    (void)metrics;
    if (b.Find(suite) == nullptr)
      md << "| " << suite << " | (only " << StepLabel(a.step) << ") | | | |\n";
  }
  if (a.settings != b.settings) {
    md << "\nThe two steps were scored with different settings; changes may "
          "not be comparable:\n"
       << "- " << StepLabel(a.step) << ": `" << a.settings.dump() << "`\n- "
       << StepLabel(b.step) << ": `" << b.settings.dump() << "`\n";
  }
  if (have_png) {
    md << "\n![" << StepLabel(a.step) << " vs " << StepLabel(b.step)
       << "](report.png)\n\n"
       << "`report.png`, each grid " << StepLabel(a.step)
       << " first (left, or above for a wide grid), " << StepLabel(b.step)
       << " second; top to bottom:";
    for (const std::string& g : grids) {
      md << (g == kGrids[0]   ? " ShapesEval (each row: the prompt's reference "
                                "scene, then samples)"
             : g == kGrids[1] ? " reconstruction (rows: input, the understanding "
                                "view, reconstruction)"
                              : " ShapesEdit (each row: source, exact target, "
                                "edited)");
      md << (&g == &grids.back() ? "." : ";");
    }
    md << "\n";
  }
  md << "\nEach step's files: `" << a.dir << "/` and `" << b.dir
     << "/` (scores.json, per-image shapes_eval.jsonl, grids).\n";
  return md.str();
}

// Copies `src` into `dst` at (x, y).
void Blit(const RgbImage& src, RgbImage* dst, int x, int y) {
  for (int r = 0; r < src.height; ++r) {
    std::copy_n(
        &src.pixels[static_cast<size_t>(r) * src.width * 3], src.width * 3,
        &dst->pixels[(static_cast<size_t>(y + r) * dst->width + x) * 3]);
  }
}

StatusOr<RgbImage> LoadPng(const std::string& path) {
  RECA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodeImage(bytes, path);
}

}  // namespace

StatusOr<std::vector<ScoredStep>> ListScoredSteps(const std::string& eval_dir) {
  DIR* d = ::opendir(eval_dir.c_str());
  if (d == nullptr) return ErrnoStatus("opendir", eval_dir, errno);
  std::vector<ScoredStep> out;
  while (const dirent* e = ::readdir(d)) {
    int64_t step = 0;
    if (!ParseStepDirName(e->d_name, &step)) continue;
    const std::string dir = eval_dir + "/" + e->d_name;
    if (Exists(dir + "/" + kScores)) out.push_back({step, dir});
  }
  ::closedir(d);
  std::sort(
      out.begin(), out.end(),
      [](const ScoredStep& a, const ScoredStep& b) { return a.step < b.step; });
  return out;
}

StatusOr<ComparisonReport> WriteComparisonReport(const std::string& eval_dir) {
  RECA_ASSIGN_OR_RETURN(std::vector<ScoredStep> steps,
                        ListScoredSteps(eval_dir));
  ComparisonReport report;
  if (steps.size() < 2) return report;
  RECA_ASSIGN_OR_RETURN(StepScores first, LoadScores(steps.front()));
  RECA_ASSIGN_OR_RETURN(StepScores latest, LoadScores(steps.back()));

  // Each grid both steps wrote becomes one band: first | gap | latest.
  constexpr int kGap = 12;
  std::vector<std::pair<RgbImage, RgbImage>> bands;
  std::vector<std::string> grids;
  for (const char* grid : kGrids) {
    const std::string pa = first.dir + "/" + grid, pb = latest.dir + "/" + grid;
    if (!Exists(pa) || !Exists(pb)) continue;
    RECA_ASSIGN_OR_RETURN(RgbImage a, LoadPng(pa));
    RECA_ASSIGN_OR_RETURN(RgbImage b, LoadPng(pb));
    bands.emplace_back(std::move(a), std::move(b));
    grids.push_back(grid);
  }
  report.first_step = first.step;
  report.latest_step = latest.step;
  if (!bands.empty()) {
    // A tall grid pairs side by side, a wide one (recon's single rows) one
    // above the other; the bands stack top to bottom.
    RgbImage canvas;
    for (const auto& [a, b] : bands) {
      const bool beside = a.width <= a.height;
      canvas.width =
          std::max(canvas.width, beside ? a.width + kGap + b.width
                                        : std::max(a.width, b.width));
      canvas.height +=
          (beside ? std::max(a.height, b.height) : a.height + kGap + b.height) +
          kGap;
    }
    canvas.height -= kGap;
    // A dark canvas, so the gaps read as separators against the grids' white.
    canvas.pixels.assign(static_cast<size_t>(canvas.width) * canvas.height * 3,
                         40);
    int y = 0;
    for (const auto& [a, b] : bands) {
      const bool beside = a.width <= a.height;
      Blit(a, &canvas, 0, y);
      Blit(b, &canvas, beside ? a.width + kGap : 0,
           beside ? y : y + a.height + kGap);
      y +=
          (beside ? std::max(a.height, b.height) : a.height + kGap + b.height) +
          kGap;
    }
    RECA_ASSIGN_OR_RETURN(std::string png, EncodePng(canvas));
    report.png_path = eval_dir + "/report.png";
    RECA_RETURN_IF_ERROR(WriteFileAtomic(report.png_path, png));
  }
  report.markdown_path = eval_dir + "/report.md";
  RECA_RETURN_IF_ERROR(WriteFileAtomic(
      report.markdown_path, Markdown(first, latest, !bands.empty(), grids)));
  report.written = true;
  return report;
}

}  // namespace reca
