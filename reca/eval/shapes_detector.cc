#include "reca/eval/shapes_detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <tuple>

namespace reca {
namespace {

// The shapes world's backgrounds (reca/shapes_world.cc); pixels nearest to
// one of these belong to no object.
constexpr std::array<Rgb, 3> kBackgrounds = {{{128, 128, 128}, {96, 104, 112}, {168, 160, 150}}};
constexpr int kNoLabel = -1;

double Distance(const uint8_t* px, Rgb c) {
  const double dr = px[0] - c.r, dg = px[1] - c.g, db = px[2] - c.b;
  return std::sqrt(dr * dr + dg * dg + db * db);
}

// A kind's mask in a w x h box, as ShapesWorld renders it (row-major, 1 = inside).
class TemplateCache {
 public:
  const std::vector<uint8_t>& Get(ShapeKind kind, int w, int h) {
    auto key = std::make_tuple(static_cast<int>(kind), w, h);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    Scene scene;
    scene.image_size = std::max(w, h);
    scene.background = {0, 0, 0};
    scene.shapes.push_back({kind, ColorName::kWhite, Box{0, 0, w, h}});
    const std::vector<uint8_t> px = ShapesWorld::Render(scene);
    std::vector<uint8_t> mask(static_cast<size_t>(w) * h);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        mask[static_cast<size_t>(y) * w + x] = px[(static_cast<size_t>(y) * scene.image_size + x) * 3] != 0;
      }
    }
    return cache_.emplace(key, std::move(mask)).first->second;
  }

 private:
  std::map<std::tuple<int, int, int>, std::vector<uint8_t>> cache_;
};

struct Component {
  int label = 0;
  std::vector<int> pixels;  // y * width + x
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // exclusive ends
  double distance_sum = 0;
};

}  // namespace

std::vector<ShapeDetection> ShapesDetector::Detect(const std::vector<uint8_t>& rgb, int width,
                                                   int height) const {
  std::vector<ShapeDetection> out;
  if (width <= 0 || height <= 0 || rgb.size() != static_cast<size_t>(width) * height * 3) return out;
  const int n = width * height;
  // 1. Nearest reference colour per pixel: 0..9 object colours, 10.. backgrounds.
  std::vector<int> label(n, kNoLabel);
  std::vector<double> dist(n, 0);
  for (int i = 0; i < n; ++i) {
    const uint8_t* px = &rgb[static_cast<size_t>(i) * 3];
    int best = kNoLabel;
    double best_d = 0;
    for (int c = 0; c < kNumColors + static_cast<int>(kBackgrounds.size()); ++c) {
      const Rgb ref = c < kNumColors ? ColorValue(static_cast<ColorName>(c)) : kBackgrounds[c - kNumColors];
      const double d = Distance(px, ref);
      if (best == kNoLabel || d < best_d) best = c, best_d = d;
    }
    // Background, or too far from everything.
    if (best >= kNumColors || best_d > options_.max_color_distance) best = kNoLabel;
    label[i] = best;
    dist[i] = best_d;
  }
  // 2. 4-connected components per object colour.
  std::vector<int> comp_of(n, -1);
  std::vector<Component> comps;
  std::vector<int> stack;
  for (int start = 0; start < n; ++start) {
    if (label[start] == kNoLabel || comp_of[start] >= 0) continue;
    Component c;
    c.label = label[start];
    c.x0 = width, c.y0 = height;
    const int id = static_cast<int>(comps.size());
    comp_of[start] = id;
    stack.assign(1, start);
    while (!stack.empty()) {
      const int p = stack.back();
      stack.pop_back();
      c.pixels.push_back(p);
      c.distance_sum += dist[p];
      const int x = p % width, y = p / width;
      c.x0 = std::min(c.x0, x), c.x1 = std::max(c.x1, x + 1);
      c.y0 = std::min(c.y0, y), c.y1 = std::max(c.y1, y + 1);
      const int nbr[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
      for (const auto& q : nbr) {
        if (q[0] < 0 || q[1] < 0 || q[0] >= width || q[1] >= height) continue;
        const int qi = q[1] * width + q[0];
        if (label[qi] == c.label && comp_of[qi] < 0) {
          comp_of[qi] = id;
          stack.push_back(qi);
        }
      }
    }
    comps.push_back(std::move(c));
  }
  // 3. Size filters and template fitting.
  const int size = std::max(width, height);
  const double min_side = options_.min_side_fraction * size;
  const double max_side = options_.max_side_fraction * size;
  const double min_area = options_.min_area_fraction * width * height;
  TemplateCache templates;
  for (size_t ci = 0; ci < comps.size(); ++ci) {
    const Component& c = comps[ci];
    const int cw = c.x1 - c.x0, ch = c.y1 - c.y0;
    if (std::max(cw, ch) < min_side || std::max(cw, ch) > max_side ||
        static_cast<double>(c.pixels.size()) < min_area) {
      continue;
    }
    const int area = static_cast<int>(c.pixels.size());
    auto in_comp = [&](int x, int y) {
      return x >= 0 && y >= 0 && x < width && y < height && comp_of[y * width + x] == static_cast<int>(ci);
    };
    double best_iou = -1;
    ShapeKind best_kind = ShapeKind::kSquare;
    Box best_box{};
    // Candidate boxes: each side moved by 0, -1 or +1 pixels (0 first, so
    // ties keep the component's own extent).
    static constexpr int kMoves[3] = {0, -1, 1};
    for (int k = 0; k < kNumShapeKinds; ++k) {
      const ShapeKind kind = static_cast<ShapeKind>(k);
      for (int m0 : kMoves) {
        for (int m1 : kMoves) {
          for (int m2 : kMoves) {
            for (int m3 : kMoves) {
              const Box b{c.x0 + m0, c.y0 + m1, c.x1 - m2, c.y1 - m3};
              const int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
              if (bw < 2 || bh < 2) continue;
              const std::vector<uint8_t>& mask = templates.Get(kind, bw, bh);
              int inter = 0, tmpl = 0;
              for (int y = 0; y < bh; ++y) {
                for (int x = 0; x < bw; ++x) {
                  if (!mask[static_cast<size_t>(y) * bw + x]) continue;
                  ++tmpl;
                  if (in_comp(b.x0 + x, b.y0 + y)) ++inter;
                }
              }
              const double iou = static_cast<double>(inter) / (area + tmpl - inter);
              if (iou > best_iou) best_iou = iou, best_kind = kind, best_box = b;
            }
          }
        }
      }
    }
    ShapeDetection d;
    d.kind = best_kind;
    d.color = static_cast<ColorName>(c.label);
    d.box = best_box;
    d.area = area;
    d.shape_fit = std::max(0.0, best_iou);
    d.color_distance = c.distance_sum / area;
    d.confidence = d.shape_fit * (1.0 - 0.5 * d.color_distance / options_.max_color_distance);
    out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(), [](const ShapeDetection& a, const ShapeDetection& b) {
    return a.confidence > b.confidence;
  });
  return out;
}

GenEvalDetections ToGenEvalDetections(const std::vector<ShapeDetection>& detections) {
  GenEvalDetections out;
  for (const ShapeDetection& d : detections) {
    out[ShapeKindName(d.kind)].push_back(GenEvalDetection{
        {static_cast<double>(d.box.x0), static_cast<double>(d.box.y0), static_cast<double>(d.box.x1),
         static_cast<double>(d.box.y1)},
        d.confidence,
        ColorNameString(d.color)});
  }
  return out;
}

}  // namespace reca
