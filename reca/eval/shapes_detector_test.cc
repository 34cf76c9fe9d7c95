#include "reca/eval/shapes_detector.h"

#include <algorithm>
#include <cstdio>

#include "gtest/gtest.h"
#include "reca/rng.h"

namespace reca {
namespace {

double Iou(const Box& a, const Box& b) {
  const int ix = std::max(0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
  const int iy = std::max(0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  const double inter = static_cast<double>(ix) * iy;
  const double uni = static_cast<double>(a.x1 - a.x0) * (a.y1 - a.y0) +
                     static_cast<double>(b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return uni > 0 ? inter / uni : 0;
}

struct Tally {
  int64_t detections = 0, matched_detections = 0, truths = 0,
          matched_truths = 0;
  double precision() const {
    return detections ? double(matched_detections) / detections : 1.0;
  }
  double recall() const {
    return truths ? double(matched_truths) / truths : 1.0;
  }
};

// A detection matches a ground-truth shape with the same kind and colour and
// box IoU >= 0.5 (each used once).
void Match(const Scene& scene, const std::vector<ShapeDetection>& dets,
           Tally* t) {
  std::vector<bool> used(dets.size(), false);
  t->truths += static_cast<int64_t>(scene.shapes.size());
  t->detections += static_cast<int64_t>(dets.size());
  for (const ShapeInstance& s : scene.shapes) {
    int best = -1;
    double best_iou = 0.5;
    for (size_t i = 0; i < dets.size(); ++i) {
      if (used[i] || dets[i].kind != s.kind || dets[i].color != s.color)
        continue;
      const double iou = Iou(dets[i].box, s.box);
      if (iou >= best_iou) best = static_cast<int>(i), best_iou = iou;
    }
    if (best >= 0) {
      used[best] = true;
      ++t->matched_truths;
      ++t->matched_detections;
    }
  }
}

// 3x3 box blur (edge pixels average what exists): soft boundaries like a
// generator's.
std::vector<uint8_t> Blur(const std::vector<uint8_t>& px, int size) {
  std::vector<uint8_t> out(px.size());
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < 3; ++c) {
        int sum = 0, n = 0;
        for (int dy = -1; dy <= 1; ++dy) {
          for (int dx = -1; dx <= 1; ++dx) {
            const int yy = y + dy, xx = x + dx;
            if (yy < 0 || xx < 0 || yy >= size || xx >= size) continue;
            sum += px[(yy * size + xx) * 3 + c], ++n;
          }
        }
        out[(y * size + x) * 3 + c] = static_cast<uint8_t>((sum + n / 2) / n);
      }
    }
  }
  return out;
}

Tally RunWorld(int image_size, uint64_t seed, int scenes, int noise,
               bool blur = false) {
  ShapesWorld world(ShapesWorldOptions{seed, image_size});
  ShapesDetector detector;
  Tally t;
  Rng rng(seed, 0xd07);
  for (int i = 0; i < scenes; ++i) {
    const Scene scene = world.SceneAt(static_cast<uint64_t>(i));
    std::vector<uint8_t> px = ShapesWorld::Render(scene);
    if (blur) px = Blur(px, image_size);
    if (noise > 0) {
      for (uint8_t& v : px) {
        v = static_cast<uint8_t>(std::clamp<int>(
            v + static_cast<int>(rng.Between(-noise, noise)), 0, 255));
      }
    }
    Match(scene, detector.Detect(px, image_size, image_size), &t);
  }
  return t;
}

TEST(ShapesDetectorTest, PrecisionAndRecallOnGroundTruthScenes) {
  Tally all;
  for (const auto& [size, seed, scenes] :
       std::vector<std::tuple<int, uint64_t, int>>{
           {32, 0, 600}, {32, 7, 600}, {64, 3, 200}}) {
    const Tally t = RunWorld(size, seed, scenes, /*noise=*/0);
    std::printf(
        "shapes detector, %dx%d, seed %llu, %d scenes: %lld shapes, precision "
        "%.4f, recall %.4f\n",
        size, size, static_cast<unsigned long long>(seed), scenes,
        static_cast<long long>(t.truths), t.precision(), t.recall());
    all.detections += t.detections,
        all.matched_detections += t.matched_detections;
    all.truths += t.truths, all.matched_truths += t.matched_truths;
  }
  std::printf(
      "shapes detector on ground truth: precision %.4f, recall %.4f (%lld "
      "shapes)\n",
      all.precision(), all.recall(), static_cast<long long>(all.truths));
  EXPECT_GE(all.precision(), 0.99);
  EXPECT_GE(all.recall(), 0.99);
}

TEST(ShapesDetectorTest, RobustToPixelNoise) {
  // +-20 per channel, uniform: like a generator's colour jitter.
  const Tally t = RunWorld(32, 11, 300, /*noise=*/20);
  std::printf(
      "shapes detector with +-20 pixel noise: precision %.4f, recall %.4f\n",
      t.precision(), t.recall());
  EXPECT_GE(t.precision(), 0.95);
  EXPECT_GE(t.recall(), 0.95);
}

TEST(ShapesDetectorTest, RobustToBlur) {
  const Tally t = RunWorld(32, 12, 300, /*noise=*/0, /*blur=*/true);
  std::printf(
      "shapes detector on 3x3-blurred scenes: precision %.4f, recall %.4f\n",
      t.precision(), t.recall());
  // Blur costs some small crosses and diamonds their identity.
  EXPECT_GE(t.precision(), 0.93);
  EXPECT_GE(t.recall(), 0.93);
}

TEST(ShapesDetectorTest, FewFalsePositivesOnPatchNoise) {
  // What an untrained MAR model draws: 4x4 tokens of random colours on grey.
  Rng rng(5);
  ShapesDetector detector;
  int detections = 0;
  const int images = 500;
  for (int i = 0; i < images; ++i) {
    std::vector<uint8_t> px(32 * 32 * 3);
    for (int by = 0; by < 8; ++by) {
      for (int bx = 0; bx < 8; ++bx) {
        uint8_t c[3] = {150, 150, 150};
        if (!rng.Bernoulli(0.6)) {
          for (uint8_t& v : c) v = static_cast<uint8_t>(rng.Between(0, 255));
        }
        for (int y = 0; y < 4; ++y) {
          for (int x = 0; x < 4; ++x)
            std::copy(c, c + 3, &px[((by * 4 + y) * 32 + bx * 4 + x) * 3]);
        }
      }
    }
    detections += static_cast<int>(detector.Detect(px, 32, 32).size());
  }
  std::printf("shapes detector on patch noise: %d detections in %d images\n",
              detections, images);
  EXPECT_LE(detections, images / 10);
}

TEST(ShapesDetectorTest, CleanShapeIsExact) {
  Scene scene;
  scene.image_size = 32;
  scene.shapes = {{ShapeKind::kTriangle, ColorName::kBlue, Box{4, 6, 14, 16}},
                  {ShapeKind::kCross, ColorName::kOrange, Box{18, 18, 29, 29}}};
  const std::vector<ShapeDetection> d =
      ShapesDetector().Detect(ShapesWorld::Render(scene), 32, 32);
  ASSERT_EQ(d.size(), 2u);
  for (const ShapeDetection& x : d) {
    EXPECT_DOUBLE_EQ(x.confidence, 1.0);
    const ShapeInstance& s =
        x.kind == ShapeKind::kTriangle ? scene.shapes[0] : scene.shapes[1];
    EXPECT_EQ(x.kind, s.kind);
    EXPECT_EQ(x.color, s.color);
    EXPECT_EQ(x.box.x0, s.box.x0);
    EXPECT_EQ(x.box.y0, s.box.y0);
    EXPECT_EQ(x.box.x1, s.box.x1);
    EXPECT_EQ(x.box.y1, s.box.y1);
  }
  const GenEvalDetections g = ToGenEvalDetections(d);
  ASSERT_EQ(g.count("triangle"), 1u);
  EXPECT_EQ(g.at("triangle")[0].color, "blue");
  EXPECT_EQ(g.at("triangle")[0].box[2], 14.0);
}

TEST(ShapesDetectorTest, BlankAndSpecksDetectNothing) {
  Scene blank;
  blank.image_size = 32;
  EXPECT_TRUE(
      ShapesDetector().Detect(ShapesWorld::Render(blank), 32, 32).empty());
  // One 4x4 patch (a single MAR token of the tiny model) is a speck.
  std::vector<uint8_t> px = ShapesWorld::Render(blank);
  for (int y = 10; y < 14; ++y) {
    for (int x = 10; x < 14; ++x)
      px[(y * 32 + x) * 3] = 220, px[(y * 32 + x) * 3 + 1] = 30,
                        px[(y * 32 + x) * 3 + 2] = 30;
  }
  EXPECT_TRUE(ShapesDetector().Detect(px, 32, 32).empty());
  EXPECT_TRUE(ShapesDetector().Detect(px, 31, 32).empty());  // wrong size
}

}  // namespace
}  // namespace reca
