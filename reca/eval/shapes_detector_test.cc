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
  int64_t detections = 0, matched_detections = 0, truths = 0, matched_truths = 0;
  double precision() const { return detections ? double(matched_detections) / detections : 1.0; }
  double recall() const { return truths ? double(matched_truths) / truths : 1.0; }
};

// A detection matches a ground-truth shape with the same kind and colour and
// box IoU >= 0.5 (each used once).
void Match(const Scene& scene, const std::vector<ShapeDetection>& dets, Tally* t) {
  std::vector<bool> used(dets.size(), false);
  t->truths += static_cast<int64_t>(scene.shapes.size());
  t->detections += static_cast<int64_t>(dets.size());
  for (const ShapeInstance& s : scene.shapes) {
    int best = -1;
    double best_iou = 0.5;
    for (size_t i = 0; i < dets.size(); ++i) {
      if (used[i] || dets[i].kind != s.kind || dets[i].color != s.color) continue;
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

Tally RunWorld(int image_size, uint64_t seed, int scenes, int noise) {
  ShapesWorld world(ShapesWorldOptions{seed, image_size});
  ShapesDetector detector;
  Tally t;
  Rng rng(seed, 0xd07);
  for (int i = 0; i < scenes; ++i) {
    const Scene scene = world.SceneAt(static_cast<uint64_t>(i));
    std::vector<uint8_t> px = ShapesWorld::Render(scene);
    if (noise > 0) {
      for (uint8_t& v : px) {
        v = static_cast<uint8_t>(std::clamp<int>(v + static_cast<int>(rng.Between(-noise, noise)), 0, 255));
      }
    }
    Match(scene, detector.Detect(px, image_size, image_size), &t);
  }
  return t;
}

TEST(ShapesDetectorTest, PrecisionAndRecallOnGroundTruthScenes) {
  Tally all;
  for (const auto& [size, seed, scenes] :
       std::vector<std::tuple<int, uint64_t, int>>{{32, 0, 600}, {32, 7, 600}, {64, 3, 200}}) {
    const Tally t = RunWorld(size, seed, scenes, /*noise=*/0);
    std::printf("shapes detector, %dx%d, seed %llu, %d scenes: %lld shapes, precision %.4f, recall %.4f\n",
                size, size, static_cast<unsigned long long>(seed), scenes,
                static_cast<long long>(t.truths), t.precision(), t.recall());
    all.detections += t.detections, all.matched_detections += t.matched_detections;
    all.truths += t.truths, all.matched_truths += t.matched_truths;
  }
  std::printf("shapes detector on ground truth: precision %.4f, recall %.4f (%lld shapes)\n",
              all.precision(), all.recall(), static_cast<long long>(all.truths));
  EXPECT_GE(all.precision(), 0.99);
  EXPECT_GE(all.recall(), 0.99);
}

TEST(ShapesDetectorTest, RobustToPixelNoise) {
  // +-20 per channel, uniform: like a generator's colour jitter.
  const Tally t = RunWorld(32, 11, 300, /*noise=*/20);
  std::printf("shapes detector with +-20 pixel noise: precision %.4f, recall %.4f\n", t.precision(),
              t.recall());
  EXPECT_GE(t.precision(), 0.95);
  EXPECT_GE(t.recall(), 0.95);
}

TEST(ShapesDetectorTest, CleanShapeIsExact) {
  Scene scene;
  scene.image_size = 32;
  scene.shapes = {{ShapeKind::kTriangle, ColorName::kBlue, Box{4, 6, 14, 16}},
                  {ShapeKind::kCross, ColorName::kOrange, Box{18, 18, 29, 29}}};
  const std::vector<ShapeDetection> d = ShapesDetector().Detect(ShapesWorld::Render(scene), 32, 32);
  ASSERT_EQ(d.size(), 2u);
  for (const ShapeDetection& x : d) {
    EXPECT_DOUBLE_EQ(x.confidence, 1.0);
    const ShapeInstance& s = x.kind == ShapeKind::kTriangle ? scene.shapes[0] : scene.shapes[1];
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
  EXPECT_TRUE(ShapesDetector().Detect(ShapesWorld::Render(blank), 32, 32).empty());
  // One 4x4 patch (a single MAR token of the tiny model) is a speck.
  std::vector<uint8_t> px = ShapesWorld::Render(blank);
  for (int y = 10; y < 14; ++y) {
    for (int x = 10; x < 14; ++x) px[(y * 32 + x) * 3] = 220, px[(y * 32 + x) * 3 + 1] = 30, px[(y * 32 + x) * 3 + 2] = 30;
  }
  EXPECT_TRUE(ShapesDetector().Detect(px, 32, 32).empty());
  EXPECT_TRUE(ShapesDetector().Detect(px, 31, 32).empty());  // wrong size
}

}  // namespace
}  // namespace reca
