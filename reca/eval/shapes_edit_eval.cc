#include "reca/eval/shapes_edit_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "reca/eval/image_metrics.h"

namespace reca {
namespace {

constexpr double kPsnrCap = 100.0;

std::string Describe(const ShapeInstance& s, int image_size) {
  return std::string(ColorNameString(s.color)) + " " + ShapeKindName(s.kind) +
         " " + ShapesWorld::PositionPhrase(s.box, image_size);
}

// Does detection `d` show target shape `t` where the instruction wants it?
bool Matches(const ShapeDetection& d, const ShapeInstance& t, bool cell_only,
             bool check_size, int n, const ShapesEditScoreOptions& o) {
  if (d.kind != t.kind || d.color != t.color) return false;
  if (cell_only) {
    if (ShapesWorld::PositionPhrase(d.box, n) !=
        ShapesWorld::PositionPhrase(t.box, n)) {
      return false;
    }
  } else {
    const double tol = o.position_tolerance * n;
    if (std::abs(d.box.cx() - t.box.cx()) > tol ||
        std::abs(d.box.cy() - t.box.cy()) > tol) {
      return false;
    }
  }
  if (check_size) {
    const double side = t.box.x1 - t.box.x0;
    const double tol = std::max(1.0, o.size_tolerance * side);
    if (std::abs((d.box.x1 - d.box.x0) - side) > tol ||
        std::abs((d.box.y1 - d.box.y0) - side) > tol) {
      return false;
    }
  }
  return true;
}

// The median colour of the pixels outside every detection's box (grown by
// one pixel); false when there are none.
bool MeasureBackground(const std::vector<uint8_t>& rgb, int n,
                       const std::vector<const ShapeDetection*>& dets,
                       double out[3]) {
  std::vector<uint8_t> ch[3];
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      bool covered = false;
      for (const ShapeDetection* d : dets) {
        covered = covered || (x >= d->box.x0 - 1 && x < d->box.x1 + 1 &&
                              y >= d->box.y0 - 1 && y < d->box.y1 + 1);
      }
      if (covered) continue;
      const size_t i = (static_cast<size_t>(y) * n + x) * 3;
      for (int k = 0; k < 3; ++k) ch[k].push_back(rgb[i + k]);
    }
  }
  if (ch[0].empty()) return false;
  for (int k = 0; k < 3; ++k) {
    auto mid = ch[k].begin() + static_cast<std::ptrdiff_t>(ch[k].size() / 2);
    std::nth_element(ch[k].begin(), mid, ch[k].end());
    out[k] = *mid;
  }
  return true;
}

}  // namespace

std::vector<bool> ShapesEditPreservedMask(const EditPair& pair, int margin) {
  const int n = pair.target.image_size;
  std::vector<bool> mask(static_cast<size_t>(n) * n, false);
  auto fill = [&](const Box& b, int grow, bool value) {
    for (int y = std::max(0, b.y0 - grow); y < std::min(n, b.y1 + grow); ++y) {
      for (int x = std::max(0, b.x0 - grow); x < std::min(n, b.x1 + grow); ++x) {
        mask[static_cast<size_t>(y) * n + x] = value;
      }
    }
  };
  if (pair.background_changed) {
    for (size_t j = 0; j < pair.target.shapes.size(); ++j) {
      if (!pair.touched_target[j]) fill(pair.target.shapes[j].box, 0, true);
    }
    return mask;
  }
  std::fill(mask.begin(), mask.end(), true);
  for (const Box& b : pair.TouchedBoxes()) fill(b, margin, false);
  return mask;
}

StatusOr<ShapesEditImageScore> ScoreShapesEditImage(
    const EditPair& pair, const std::vector<uint8_t>& rgb, int width,
    int height, const ShapesDetector& detector,
    const ShapesEditScoreOptions& o) {
  const int n = pair.target.image_size;
  if (width != n || height != n ||
      rgb.size() != static_cast<size_t>(n) * n * 3) {
    return InvalidArgumentError(
        "shapes_edit pair " + std::to_string(pair.index) + ": the edited image is " +
        std::to_string(width) + "x" + std::to_string(height) + " with " +
        std::to_string(rgb.size()) + " bytes, expected " + std::to_string(n) +
        "x" + std::to_string(n) + "x3");
  }
  ShapesEditImageScore out;
  out.detections = detector.Detect(rgb, width, height);
  std::vector<const ShapeDetection*> dets;
  for (const ShapeDetection& d : out.detections) {
    if (d.confidence >= o.min_confidence) dets.push_back(&d);
  }
  std::vector<bool> used(dets.size(), false);
  bool carried = true, preserved = true;
  auto fail = [&](bool touched, const std::string& why) {
    (touched ? carried : preserved) = false;
    out.failures.push_back(std::string(touched ? "not carried out: " : "not preserved: ") + why);
  };

  // Which target shapes are new (no source shape maps to them).
  const size_t nt = pair.target.shapes.size();
  std::vector<bool> added(nt, true);
  for (int j : pair.target_of_source) {
    if (j >= 0) added[static_cast<size_t>(j)] = false;
  }
  // Every target shape, most confident matching detection first.
  std::vector<bool> matched(nt, false);
  for (size_t j = 0; j < nt; ++j) {
    const ShapeInstance& t = pair.target.shapes[j];
    for (size_t k = 0; k < dets.size(); ++k) {
      if (used[k] || !Matches(*dets[k], t, pair.cell_only_target[j], !added[j], n, o))
        continue;
      used[k] = true;
      matched[j] = true;
      break;
    }
    if (!matched[j]) {
      fail(pair.touched_target[j],
           std::string(pair.touched_target[j] ? "no " : "lost the ") + Describe(t, n));
    }
  }
  // Removed shapes must be gone.
  for (size_t i = 0; i < pair.source.shapes.size(); ++i) {
    if (pair.target_of_source[i] >= 0) continue;
    const ShapeInstance& s = pair.source.shapes[i];
    for (size_t k = 0; k < dets.size(); ++k) {
      if (used[k] || dets[k]->kind != s.kind || dets[k]->color != s.color) continue;
      used[k] = true;
      fail(true, "the " + Describe(s, n) + " is still there");
      break;
    }
  }
  // Anything else: a misplaced edit, or an object the instruction did not ask for.
  for (size_t k = 0; k < dets.size(); ++k) {
    if (used[k]) continue;
    // The old version of a changed shape, left as it was?
    bool unchanged = false;
    for (size_t i = 0; i < pair.source.shapes.size(); ++i) {
      unchanged = unchanged ||
                  (pair.touched_source[i] && pair.target_of_source[i] >= 0 &&
                   Matches(*dets[k], pair.source.shapes[i], false, false, n, o));
    }
    if (unchanged) {
      const ShapeInstance seen{dets[k]->kind, dets[k]->color, dets[k]->box};
      fail(true, "the " + Describe(seen, n) + " is unchanged");
      continue;
    }
    bool misplaced = false;
    for (size_t j = 0; j < nt; ++j) {
      misplaced = misplaced || (!matched[j] && pair.touched_target[j] &&
                                pair.target.shapes[j].kind == dets[k]->kind &&
                                pair.target.shapes[j].color == dets[k]->color);
    }
    const ShapeInstance seen{dets[k]->kind, dets[k]->color, dets[k]->box};
    fail(misplaced, (misplaced ? "misplaced " : "an extra ") + Describe(seen, n));
  }
  // The background.
  double bg[3];
  const Rgb want = pair.target.background;
  if (!MeasureBackground(rgb, n, dets, bg)) {
    fail(pair.background_changed, "no background visible");
  } else {
    const double dr = bg[0] - want.r, dg = bg[1] - want.g, db = bg[2] - want.b;
    if (std::sqrt(dr * dr + dg * dg + db * db) > o.background_tolerance) {
      fail(pair.background_changed,
           "the background is not " + BackgroundName(want));
    }
  }
  out.carried_out = carried;
  out.preserved = preserved;
  out.correct = carried && preserved;

  // Masked PSNR against the target's render.
  const std::vector<bool> mask = ShapesEditPreservedMask(pair, o.psnr_margin);
  const std::vector<uint8_t> target = ShapesWorld::Render(pair.target);
  std::vector<uint8_t> a, b;
  for (size_t p = 0; p < mask.size(); ++p) {
    if (!mask[p]) continue;
    for (int k = 0; k < 3; ++k) {
      a.push_back(rgb[3 * p + k]);
      b.push_back(target[3 * p + k]);
    }
  }
  out.masked_pixels = static_cast<int64_t>(a.size() / 3);
  if (a.empty()) {
    out.masked_psnr = std::numeric_limits<double>::infinity();
  } else {
    RECA_ASSIGN_OR_RETURN(
        out.masked_psnr,
        Psnr(a, b, ImageShape{1, static_cast<int>(out.masked_pixels), 3}));
  }
  return out;
}

StatusOr<ShapesEditSummary> SummarizeShapesEdit(
    const std::vector<EditPair>& pairs,
    const std::vector<ShapesEditImageScore>& scores) {
  if (pairs.size() != scores.size()) {
    return InvalidArgumentError("shapes_edit: " + std::to_string(scores.size()) +
                                " scores for " + std::to_string(pairs.size()) +
                                " pairs");
  }
  struct Acc {
    int pairs = 0, correct = 0, carried = 0, preserved = 0;
    double psnr = 0;
  };
  std::vector<Acc> acc(kNumEditCategories);
  ShapesEditSummary s;
  double psnr_total = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    Acc& a = acc[static_cast<int>(pairs[i].category)];
    const ShapesEditImageScore& sc = scores[i];
    const double psnr = std::min(kPsnrCap, sc.masked_psnr);
    a.pairs += 1;
    a.correct += sc.correct;
    a.carried += sc.carried_out;
    a.preserved += sc.preserved;
    a.psnr += psnr;
    psnr_total += psnr;
  }
  for (int k = 0; k < kNumEditCategories; ++k) {
    const Acc& a = acc[k];
    if (a.pairs == 0) continue;
    ShapesEditCategoryScore c;
    c.category = EditCategoryName(static_cast<EditCategory>(k));
    c.pairs = a.pairs;
    c.accuracy = static_cast<double>(a.correct) / a.pairs;
    c.carried_out = static_cast<double>(a.carried) / a.pairs;
    c.preserved = static_cast<double>(a.preserved) / a.pairs;
    c.masked_psnr = a.psnr / a.pairs;
    s.categories.push_back(c);
  }
  s.pairs = static_cast<int>(pairs.size());
  if (!s.categories.empty()) {
    for (const ShapesEditCategoryScore& c : s.categories) {
      s.overall += c.accuracy;
      s.carried_out += c.carried_out;
      s.preserved += c.preserved;
    }
    const double m = static_cast<double>(s.categories.size());
    s.overall /= m;
    s.carried_out /= m;
    s.preserved /= m;
    s.masked_psnr = psnr_total / s.pairs;
  }
  return s;
}

StatusOr<ShapesEditSummary> RunShapesEditSuite(
    const std::vector<EditPair>& pairs, const ShapesEditFn& edit,
    const ShapesDetector& detector, const ShapesEditScoreOptions& options,
    std::vector<ShapesEditImageScore>* per_pair) {
  std::vector<ShapesEditImageScore> scores;
  for (const EditPair& p : pairs) {
    const std::string where = "shapes_edit pair " + std::to_string(p.index) +
                              " (" + EditCategoryName(p.category) + "): ";
    StatusOr<std::vector<uint8_t>> image = edit(p, ShapesWorld::Render(p.source));
    if (!image.ok()) {
      return Status(image.status().code(), where + std::string(image.status().message()));
    }
    const int n = p.target.image_size;
    RECA_ASSIGN_OR_RETURN(ShapesEditImageScore sc,
                          ScoreShapesEditImage(p, *image, n, n, detector, options));
    scores.push_back(std::move(sc));
  }
  RECA_ASSIGN_OR_RETURN(ShapesEditSummary summary, SummarizeShapesEdit(pairs, scores));
  if (per_pair != nullptr) *per_pair = std::move(scores);
  return summary;
}

std::string ShapesEditResultJson(const EditPair& pair, const ShapesEditImageScore& score) {
  nlohmann::ordered_json j;
  j["index"] = pair.index;
  j["category"] = EditCategoryName(pair.category);
  j["instruction"] = pair.dense_instruction;
  j["sparse_instruction"] = pair.sparse_instruction;
  j["correct"] = score.correct;
  j["carried_out"] = score.carried_out;
  j["preserved"] = score.preserved;
  j["masked_psnr"] = std::isfinite(score.masked_psnr) ? nlohmann::ordered_json(score.masked_psnr)
                                                      : nlohmann::ordered_json(nullptr);
  j["failures"] = score.failures;
  return j.dump();
}

std::string ShapesEditSummaryJson(const ShapesEditSummary& s) {
  nlohmann::ordered_json categories = nlohmann::ordered_json::object();
  for (const ShapesEditCategoryScore& c : s.categories) categories[c.category] = c.accuracy;
  nlohmann::ordered_json j;
  j["overall"] = s.overall;
  j["categories"] = categories;
  j["carried_out"] = s.carried_out;
  j["preserved"] = s.preserved;
  j["masked_psnr"] = s.masked_psnr;
  j["pairs"] = s.pairs;
  return j.dump();
}

}  // namespace reca
