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
constexpr std::array<Rgb, 3> kBackgrounds = {
    {{128, 128, 128}, {96, 104, 112}, {168, 160, 150}}};
constexpr int kNoLabel = -1;

double Distance(const uint8_t* px, Rgb c) {
  const double dr = px[0] - c.r, dg = px[1] - c.g, db = px[2] - c.b;
  return std::sqrt(dr * dr + dg * dg + db * db);
}

// How much of object colour `ref` pixel `px` holds as a mix with the
// background `bg` (t in p = bg + t (ref - bg), clamped to [0, 1]), and how far
// the pixel is from that mix.
struct Mix {
  double t = 0, residual = 0;
};
Mix Unmix(const uint8_t* px, const double* bg, Rgb ref) {
  const double w[3] = {px[0] - bg[0], px[1] - bg[1], px[2] - bg[2]};
  const double v[3] = {ref.r - bg[0], ref.g - bg[1], ref.b - bg[2]};
  const double vv = std::max(1.0, v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  Mix m;
  m.t = std::clamp((w[0] * v[0] + w[1] * v[1] + w[2] * v[2]) / vv, 0.0, 1.0);
  double r2 = 0;
  for (int k = 0; k < 3; ++k) r2 += (w[k] - m.t * v[k]) * (w[k] - m.t * v[k]);
  m.residual = std::sqrt(r2);
  return m;
}

// Coverage as the fit sees it: nothing below a quarter, everything above
// three quarters, linear between (so pixel noise around 0 and 1 adds nothing).
double Ramp(double t) { return std::clamp((t - 0.25) / 0.5, 0.0, 1.0); }

// A kind's template for a w x h box, as ShapesWorld renders it, in a frame
// with a one-pixel margin ((w + 2) x (h + 2), the box at (1, 1)): 1 inside,
// 0 outside; with `blur`, box-filtered 3x3 (soft edges, as a generator draws).
class TemplateCache {
 public:
  const std::vector<float>& Get(ShapeKind kind, int w, int h, bool blur) {
    auto key = std::make_tuple(static_cast<int>(kind), w, h, blur);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    Scene scene;
    scene.image_size = std::max(w, h);
    scene.background = {0, 0, 0};
    scene.shapes.push_back({kind, ColorName::kWhite, Box{0, 0, w, h}});
    const std::vector<uint8_t> px = ShapesWorld::Render(scene);
    const int fw = w + 2, fh = h + 2;
    std::vector<float> mask(static_cast<size_t>(fw) * fh, 0.0f);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        mask[static_cast<size_t>(y + 1) * fw + x + 1] =
            px[(static_cast<size_t>(y) * scene.image_size + x) * 3] != 0 ? 1.0f
                                                                         : 0.0f;
      }
    }
    if (blur) {
      std::vector<float> soft(mask.size(), 0.0f);
      for (int y = 0; y < fh; ++y) {
        for (int x = 0; x < fw; ++x) {
          float sum = 0;
          for (int dy = -1; dy <= 1; ++dy) {
            for (int dx = -1; dx <= 1; ++dx) {
              const int yy = y + dy, xx = x + dx;
              if (yy >= 0 && xx >= 0 && yy < fh && xx < fw)
                sum += mask[static_cast<size_t>(yy) * fw + xx];
            }
          }
          soft[static_cast<size_t>(y) * fw + x] =
              static_cast<float>(Ramp(sum / 9.0));
        }
      }
      mask = std::move(soft);
    }
    return cache_.emplace(key, std::move(mask)).first->second;
  }

 private:
  std::map<std::tuple<int, int, int, bool>, std::vector<float>> cache_;
};

struct Component {
  int label = 0;
  std::vector<int> pixels;             // y * width + x
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // exclusive ends
  double distance_sum = 0;
};

}  // namespace

std::vector<ShapeDetection> ShapesDetector::Detect(
    const std::vector<uint8_t>& rgb, int width, int height) const {
  std::vector<ShapeDetection> out;
  if (width <= 0 || height <= 0 ||
      rgb.size() != static_cast<size_t>(width) * height * 3)
    return out;
  const int n = width * height;
  // 1. The background: the shapes-world background most pixels are near,
  // measured as the mean of those pixels (a generator's may be off a bit).
  const double max_d = options_.max_color_distance;
  double bg[3] = {kBackgrounds[0].r * 1.0, kBackgrounds[0].g * 1.0,
                  kBackgrounds[0].b * 1.0};
  {
    int64_t count[kBackgrounds.size()] = {};
    double sum[kBackgrounds.size()][3] = {};
    for (int i = 0; i < n; ++i) {
      const uint8_t* px = &rgb[static_cast<size_t>(i) * 3];
      int best = -1;
      double best_d = max_d;
      for (size_t k = 0; k < kBackgrounds.size(); ++k) {
        const double d = Distance(px, kBackgrounds[k]);
        if (d <= best_d) best = static_cast<int>(k), best_d = d;
      }
      if (best < 0) continue;
      ++count[best];
      for (int ch = 0; ch < 3; ++ch) sum[best][ch] += px[ch];
    }
    const size_t k = static_cast<size_t>(
        std::max_element(count, count + kBackgrounds.size()) - count);
    if (count[k] > 0) {
      for (int ch = 0; ch < 3; ++ch)
        bg[ch] = sum[k][ch] / static_cast<double>(count[k]);
    }
  }
  // 2. Each pixel as a mix of the background and one object colour c:
  // p ~ bg + t (c - bg). It belongs to c when it is at least half c (t >= 0.5:
  // the half-way contour of a blurred edge is the edge) and within
  // max_color_distance of that mix; the closest such c wins.
  std::vector<int> label(n, kNoLabel);
  std::vector<double> dist(n, 0);
  for (int i = 0; i < n; ++i) {
    const uint8_t* px = &rgb[static_cast<size_t>(i) * 3];
    for (int c = 0; c < kNumColors; ++c) {
      const Mix m = Unmix(px, bg, ColorValue(static_cast<ColorName>(c)));
      if (m.t < 0.5 || m.residual > max_d) continue;
      if (label[i] == kNoLabel || m.residual < dist[i])
        label[i] = c, dist[i] = m.residual;
    }
  }
  // 3. 4-connected components per object colour.
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
  // 4. Size filters and template fitting.
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
    // The component's coverage map over its extent + 2 pixels: its own
    // pixels and unclaimed ones count by how much of its colour they hold.
    const Rgb ref = ColorValue(static_cast<ColorName>(c.label));
    const int rx0 = std::max(0, c.x0 - 2), ry0 = std::max(0, c.y0 - 2);
    const int rx1 = std::min(width, c.x1 + 2), ry1 = std::min(height, c.y1 + 2);
    const int rw = rx1 - rx0, rh = ry1 - ry0;
    std::vector<float> cover(static_cast<size_t>(rw) * rh, 0.0f);
    for (int y = ry0; y < ry1; ++y) {
      for (int x = rx0; x < rx1; ++x) {
        const int i = y * width + x;
        if (comp_of[i] != static_cast<int>(ci) && label[i] != kNoLabel)
          continue;
        const Mix m = Unmix(&rgb[static_cast<size_t>(i) * 3], bg, ref);
        if (m.residual <= max_d)
          cover[static_cast<size_t>(y - ry0) * rw + x - rx0] =
              static_cast<float>(Ramp(m.t));
      }
    }
    double best_iou = -1;
    ShapeKind best_kind = ShapeKind::kSquare;
    Box best_box{};
    // Candidates: every kind, crisp or soft-edged, over boxes with each side
    // moved by 0, -1 or +1 pixels (0 first: ties keep the component's extent);
    // the fit is the soft IoU sum(min) / sum(max) with the coverage map.
    static constexpr int kMoves[3] = {0, -1, 1};
    for (int k = 0; k < kNumShapeKinds; ++k) {
      const ShapeKind kind = static_cast<ShapeKind>(k);
      for (bool blur : {false, true}) {
        for (int m0 : kMoves) {
          for (int m1 : kMoves) {
            for (int m2 : kMoves) {
              for (int m3 : kMoves) {
                const Box b{c.x0 + m0, c.y0 + m1, c.x1 - m2, c.y1 - m3};
                const int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
                if (bw < 2 || bh < 2) continue;
                const std::vector<float>& tmpl =
                    templates.Get(kind, bw, bh, blur);
                const int fx0 = b.x0 - 1, fy0 = b.y0 - 1, fw = bw + 2,
                          fh = bh + 2;
                double lo = 0, hi = 0;
                for (int y = ry0; y < ry1; ++y) {
                  for (int x = rx0; x < rx1; ++x) {
                    const double m =
                        cover[static_cast<size_t>(y - ry0) * rw + x - rx0];
                    const int tx = x - fx0, ty = y - fy0;
                    const double t =
                        (tx >= 0 && ty >= 0 && tx < fw && ty < fh)
                            ? tmpl[static_cast<size_t>(ty) * fw + tx]
                            : 0.0;
                    lo += std::min(m, t);
                    hi += std::max(m, t);
                  }
                }
                const double iou = hi > 0 ? lo / hi : 0;
                if (iou > best_iou)
                  best_iou = iou, best_kind = kind, best_box = b;
              }
            }
          }
        }
      }
    }
    const int bw = best_box.x1 - best_box.x0, bh = best_box.y1 - best_box.y0;
    if (std::min(bw, bh) < options_.min_aspect * std::max(bw, bh)) continue;
    ShapeDetection d;
    d.kind = best_kind;
    d.color = static_cast<ColorName>(c.label);
    d.box = best_box;
    d.area = area;
    d.shape_fit = std::max(0.0, best_iou);
    d.color_distance = c.distance_sum / area;
    // in [0, 1]
    const double off = d.color_distance / options_.max_color_distance;
    d.confidence = d.shape_fit * (1.0 - 0.5 * off * off);
    out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ShapeDetection& a, const ShapeDetection& b) {
                     return a.confidence > b.confidence;
                   });
  return out;
}

GenEvalDetections ToGenEvalDetections(
    const std::vector<ShapeDetection>& detections) {
  GenEvalDetections out;
  for (const ShapeDetection& d : detections) {
    out[ShapeKindName(d.kind)].push_back(GenEvalDetection{
        {static_cast<double>(d.box.x0), static_cast<double>(d.box.y0),
         static_cast<double>(d.box.x1), static_cast<double>(d.box.y1)},
        d.confidence,
        ColorNameString(d.color)});
  }
  return out;
}

}  // namespace reca
