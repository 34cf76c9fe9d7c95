#include "reca/shapes_world.h"

#include <algorithm>
#include <cmath>

#include "reca/rng.h"

namespace reca {
namespace {

constexpr std::array<const char*, kNumShapeKinds> kShapeNames = {
    "circle", "square", "triangle", "diamond", "cross"};
constexpr std::array<const char*, kNumColors> kColorNames = {
    "red", "orange", "yellow", "green", "blue",
    "purple", "pink", "brown", "black", "white"};
constexpr std::array<Rgb, kNumColors> kColorValues = {{
    {220, 30, 30},   {245, 140, 20}, {240, 220, 30}, {40, 170, 50},
    {30, 70, 220},   {130, 50, 180}, {245, 130, 190}, {130, 80, 40},
    {15, 15, 15},    {245, 245, 245},
}};
constexpr std::array<Rgb, 3> kBackgrounds = {{{128, 128, 128}, {96, 104, 112}, {168, 160, 150}}};
constexpr std::array<const char*, 5> kCountWords = {"zero", "one", "two", "three", "four"};

bool Overlaps(const Box& a, const Box& b, int margin) {
  return a.x0 < b.x1 + margin && b.x0 < a.x1 + margin && a.y0 < b.y1 + margin &&
         b.y0 < a.y1 + margin;
}

bool Inside(ShapeKind kind, const Box& b, double px, double py) {
  const double w = b.x1 - b.x0, h = b.y1 - b.y0;
  const double dx = px - b.cx(), dy = py - b.cy();
  switch (kind) {
    case ShapeKind::kCircle:
      return (dx * dx) / (0.25 * w * w) + (dy * dy) / (0.25 * h * h) <= 1.0;
    case ShapeKind::kSquare:
      return true;
    case ShapeKind::kTriangle:  // apex up, base on the bottom edge
      return std::abs(dx) <= 0.5 * w * (py - b.y0) / h;
    case ShapeKind::kDiamond:
      return std::abs(dx) / (0.5 * w) + std::abs(dy) / (0.5 * h) <= 1.0;
    case ShapeKind::kCross:
      return std::abs(dx) <= w / 6.0 || std::abs(dy) <= h / 6.0;
  }
  return false;
}

std::string WithArticle(const std::string& phrase) {
  const char c = phrase.empty() ? 'x' : phrase[0];
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return (vowel ? "an " : "a ") + phrase;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += (i + 1 == items.size()) ? " and " : ", ";
    out += items[i];
  }
  return out;
}

}  // namespace

const char* ShapeKindName(ShapeKind k) { return kShapeNames[static_cast<int>(k)]; }
const char* ColorNameString(ColorName c) { return kColorNames[static_cast<int>(c)]; }
Rgb ColorValue(ColorName c) { return kColorValues[static_cast<int>(c)]; }

ShapesWorld::ShapesWorld(ShapesWorldOptions options) : options_(options) {}

Scene ShapesWorld::SceneAt(uint64_t index) const {
  Rng rng(options_.seed, index);
  Scene scene;
  const int s = options_.image_size;
  scene.image_size = s;
  scene.background = kBackgrounds[rng.Below(kBackgrounds.size())];
  const int want = static_cast<int>(rng.Between(options_.min_shapes, options_.max_shapes));
  const int min_side = std::max(4, static_cast<int>(std::lround(0.25 * s)));
  const int max_side = std::max(min_side, static_cast<int>(std::lround(0.40 * s)));
  std::array<bool, kNumColors> used{};
  for (int n = 0; n < want; ++n) {
    // Rejection-sample a free spot; a crowded scene simply keeps fewer shapes.
    for (int attempt = 0; attempt < 64; ++attempt) {
      const int side = static_cast<int>(rng.Between(min_side, max_side));
      const int x0 = static_cast<int>(rng.Between(0, s - side));
      const int y0 = static_cast<int>(rng.Between(0, s - side));
      Box box{x0, y0, x0 + side, y0 + side};
      bool free = std::none_of(scene.shapes.begin(), scene.shapes.end(),
                               [&](const ShapeInstance& o) { return Overlaps(box, o.box, 1); });
      if (!free) continue;
      int color = static_cast<int>(rng.Below(kNumColors));
      while (used[color]) color = (color + 1) % kNumColors;
      used[color] = true;
      scene.shapes.push_back({static_cast<ShapeKind>(rng.Below(kNumShapeKinds)),
                              static_cast<ColorName>(color), box});
      break;
    }
  }
  if (scene.shapes.empty()) {  // unreachable for sane sizes; keep the 1..4 contract anyway
    const int side = min_side;
    scene.shapes.push_back({ShapeKind::kSquare, ColorName::kRed,
                            Box{(s - side) / 2, (s - side) / 2, (s + side) / 2, (s + side) / 2}});
  }
  return scene;
}

std::vector<uint8_t> ShapesWorld::Render(const Scene& scene) {
  const int s = scene.image_size;
  std::vector<uint8_t> px(static_cast<size_t>(s) * s * 3);
  for (int i = 0; i < s * s; ++i) {
    px[3 * i] = scene.background.r;
    px[3 * i + 1] = scene.background.g;
    px[3 * i + 2] = scene.background.b;
  }
  for (const ShapeInstance& sh : scene.shapes) {
    const Rgb c = ColorValue(sh.color);
    for (int y = sh.box.y0; y < sh.box.y1; ++y) {
      for (int x = sh.box.x0; x < sh.box.x1; ++x) {
        if (!Inside(sh.kind, sh.box, x + 0.5, y + 0.5)) continue;
        const size_t i = (static_cast<size_t>(y) * s + x) * 3;
        px[i] = c.r;
        px[i + 1] = c.g;
        px[i + 2] = c.b;
      }
    }
  }
  return px;
}

std::string ShapesWorld::PositionPhrase(const Box& box, int image_size) {
  const double third = image_size / 3.0;
  const int col = std::min(2, static_cast<int>(box.cx() / third));
  const int row = std::min(2, static_cast<int>(box.cy() / third));
  static const char* kRows[] = {"top", "", "bottom"};
  static const char* kCols[] = {"left", "", "right"};
  if (row == 1 && col == 1) return "in the center";
  if (row == 1) return std::string("on the ") + kCols[col];
  if (col == 1) return std::string("at the ") + kRows[row];
  return std::string("at the ") + kRows[row] + " " + kCols[col];
}

std::string ShapesWorld::DenseCaption(const Scene& scene) {
  std::vector<std::string> parts;
  for (const ShapeInstance& sh : scene.shapes) {
    parts.push_back(WithArticle(std::string(ColorNameString(sh.color)) + " " +
                                ShapeKindName(sh.kind) + " " +
                                PositionPhrase(sh.box, scene.image_size)));
  }
  const size_t n = scene.shapes.size();
  return std::string(kCountWords[n]) + (n == 1 ? " shape: " : " shapes: ") + JoinList(parts) +
         " .";
}

std::string ShapesWorld::SparseCaption(const Scene& scene, uint64_t variant) {
  Rng rng(variant, 0x5ca1ab1eull + scene.shapes.size());
  const size_t n = scene.shapes.size();
  if (rng.Bernoulli(0.1)) return n == 1 ? "a shape ." : "some shapes .";
  std::vector<std::string> parts;
  for (const ShapeInstance& sh : scene.shapes) {
    if (!rng.Bernoulli(0.7)) continue;
    std::string p = rng.Bernoulli(0.4) ? std::string(ColorNameString(sh.color)) + " " : "";
    p += ShapeKindName(sh.kind);
    if (rng.Bernoulli(0.2)) p += " " + PositionPhrase(sh.box, scene.image_size);
    parts.push_back(WithArticle(p));
  }
  if (parts.empty()) parts.push_back(WithArticle(ShapeKindName(scene.shapes[0].kind)));
  std::string prefix;
  if (rng.Bernoulli(0.3)) prefix = std::string(kCountWords[n]) + (n == 1 ? " shape: " : " shapes: ");
  return prefix + JoinList(parts) + " .";
}

}  // namespace reca
