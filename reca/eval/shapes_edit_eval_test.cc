#include "reca/eval/shapes_edit_eval.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace reca {
namespace {

std::vector<uint8_t> Render(const Scene& s) { return ShapesWorld::Render(s); }

std::string Why(const ShapesEditImageScore& s) {
  std::string out;
  for (const std::string& f : s.failures) out += f + "; ";
  return out;
}

ShapesEditImageScore Score(const EditPair& p, const std::vector<uint8_t>& rgb) {
  const int n = p.target.image_size;
  auto s = ScoreShapesEditImage(p, rgb, n, n);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : ShapesEditImageScore();
}

TEST(ShapesEditEvalTest, TheExactTargetPassesEveryCategory) {
  for (int size : {32, 48}) {
    for (const EditPair& p : ShapesEditPairs(12, size)) {
      SCOPED_TRACE(p.dense_instruction);
      const ShapesEditImageScore s = Score(p, Render(p.target));
      EXPECT_TRUE(s.correct) << Why(s);
      EXPECT_TRUE(std::isinf(s.masked_psnr));
      EXPECT_TRUE(s.failures.empty());
    }
  }
}

TEST(ShapesEditEvalTest, AnEditNotCarriedOutFails) {
  int checked = 0;
  for (const EditPair& p : ShapesEditPairs(12)) {
    SCOPED_TRACE(p.dense_instruction);
    // The model returns the source unchanged: nothing carried out, but
    // everything the instruction does not name is preserved.
    const ShapesEditImageScore s = Score(p, Render(p.source));
    EXPECT_FALSE(s.carried_out) << Why(s);
    EXPECT_TRUE(s.preserved) << Why(s);
    EXPECT_FALSE(s.correct);
    ++checked;
  }
  EXPECT_EQ(checked, 96);
}

// The exact target, except that an untouched shape moved too.
TEST(ShapesEditEvalTest, AnEditThatAlsoMovesAnotherObjectFails) {
  int checked = 0;
  for (const EditPair& p : ShapesEditPairs(12)) {
    const int n = p.target.image_size;
    for (size_t j = 0; j < p.target.shapes.size(); ++j) {
      if (p.touched_target[j]) continue;
      Scene moved = p.target;
      bool placed = false;
      for (int dx : {-8, 8, -6, 6}) {
        for (int dy : {0, -8, 8}) {
          Box b = p.target.shapes[j].box;
          b.x0 += dx, b.x1 += dx, b.y0 += dy, b.y1 += dy;
          bool ok = b.x0 >= 0 && b.y0 >= 0 && b.x1 <= n && b.y1 <= n;
          for (size_t k = 0; k < moved.shapes.size() && ok; ++k) {
            const Box& o = moved.shapes[k].box;
            ok = k == j || !(b.x0 < o.x1 + 1 && o.x0 < b.x1 + 1 && b.y0 < o.y1 + 1 &&
                             o.y0 < b.y1 + 1);
          }
          if (ok && !placed) {
            moved.shapes[j].box = b;
            placed = true;
          }
        }
      }
      if (!placed) continue;
      SCOPED_TRACE(p.dense_instruction + " / moved " + std::to_string(j));
      const ShapesEditImageScore s = Score(p, Render(moved));
      EXPECT_FALSE(s.preserved) << Why(s);
      EXPECT_FALSE(s.correct);
      EXPECT_TRUE(std::isfinite(s.masked_psnr));
      ++checked;
      break;
    }
  }
  EXPECT_GT(checked, 40);
}

TEST(ShapesEditEvalTest, ChangedColourOrExtraObjectIsNotPreserved) {
  int recoloured = 0, extra = 0;
  for (const EditPair& p : ShapesEditPairs(6)) {
    // Recolour an untouched shape to a colour nobody has.
    for (size_t j = 0; j < p.target.shapes.size(); ++j) {
      if (p.touched_target[j]) continue;
      Scene t = p.target;
      std::vector<bool> used(kNumColors, false);
      for (const ShapeInstance& s : p.source.shapes) used[static_cast<int>(s.color)] = true;
      for (const ShapeInstance& s : t.shapes) used[static_cast<int>(s.color)] = true;
      int c = 0;
      while (used[c]) ++c;
      t.shapes[j].color = static_cast<ColorName>(c);
      const ShapesEditImageScore s = Score(p, Render(t));
      EXPECT_FALSE(s.preserved) << p.dense_instruction;
      ++recoloured;
      break;
    }
  }
  // An extra object on an otherwise exact target.
  for (const EditPair& p : ShapesEditPairs(4)) {
    if (p.target.shapes.size() >= 4) continue;
    Scene t = p.target;
    for (int y0 = 0; y0 + 8 <= 32 && t.shapes.size() == p.target.shapes.size(); y0 += 2) {
      for (int x0 = 0; x0 + 8 <= 32; x0 += 2) {
        const Box b{x0, y0, x0 + 8, y0 + 8};
        bool ok = true;
        for (const ShapeInstance& s : p.source.shapes) {
          ok = ok && !(b.x0 < s.box.x1 + 1 && s.box.x0 < b.x1 + 1 && b.y0 < s.box.y1 + 1 &&
                       s.box.y0 < b.y1 + 1);
        }
        for (const ShapeInstance& s : t.shapes) {
          ok = ok && !(b.x0 < s.box.x1 + 1 && s.box.x0 < b.x1 + 1 && b.y0 < s.box.y1 + 1 &&
                       s.box.y0 < b.y1 + 1);
        }
        if (!ok) continue;
        std::vector<bool> used(kNumColors, false);
        for (const ShapeInstance& s : p.source.shapes) used[static_cast<int>(s.color)] = true;
        for (const ShapeInstance& s : t.shapes) used[static_cast<int>(s.color)] = true;
        int c = 0;
        while (used[c]) ++c;
        t.shapes.push_back({ShapeKind::kSquare, static_cast<ColorName>(c), b});
        break;
      }
    }
    if (t.shapes.size() == p.target.shapes.size()) continue;
    const ShapesEditImageScore s = Score(p, Render(t));
    EXPECT_FALSE(s.preserved) << p.dense_instruction << ": " << Why(s);
    EXPECT_TRUE(s.carried_out) << p.dense_instruction << ": " << Why(s);
    ++extra;
  }
  EXPECT_GT(recoloured, 20);
  EXPECT_GT(extra, 5);
}

TEST(ShapesEditEvalTest, MaskedPsnrIsInfiniteForTheTargetAndFiniteWhenThePreservedRegionChanges) {
  int checked = 0;
  for (const EditPair& p : ShapesEditPairs(4)) {
    const std::vector<bool> mask = ShapesEditPreservedMask(p, 2);
    std::vector<uint8_t> rgb = Render(p.target);
    size_t inside = mask.size();
    size_t outside = mask.size();
    for (size_t q = 0; q < mask.size(); ++q) {
      if (mask[q] && inside == mask.size()) inside = q;
      if (!mask[q] && outside == mask.size()) outside = q;
    }
    // A changed pixel in the touched region does not count.
    if (outside < mask.size()) {
      std::vector<uint8_t> touched = rgb;
      touched[3 * outside] ^= 0x40;
      EXPECT_TRUE(std::isinf(Score(p, touched).masked_psnr)) << p.dense_instruction;
    }
    ASSERT_LT(inside, mask.size()) << p.dense_instruction;
    rgb[3 * inside] ^= 0x40;  // one channel of one pixel off by 64
    const ShapesEditImageScore s = Score(p, rgb);
    ASSERT_TRUE(std::isfinite(s.masked_psnr));
    // 10 log10(255^2 / (64^2 / (3 m))) for m masked pixels.
    const double m = static_cast<double>(s.masked_pixels);
    EXPECT_NEAR(s.masked_psnr, 10 * std::log10(255.0 * 255.0 * 3 * m / (64.0 * 64.0)), 1e-9);
    ++checked;
  }
  EXPECT_EQ(checked, 32);
}

TEST(ShapesEditEvalTest, PreservedMaskFollowsTheCategory) {
  ShapesEditOptions o{/*seed=*/1, 32};
  const EditPair bg = EditPairAt(o, 5);  // 5 % 8: background
  ASSERT_EQ(bg.category, EditCategory::kBackground);
  const std::vector<bool> m = ShapesEditPreservedMask(bg, 2);
  int64_t in = 0, expected = 0;
  for (bool v : m) in += v;
  for (const ShapeInstance& s : bg.target.shapes)
    expected += static_cast<int64_t>(s.box.x1 - s.box.x0) * (s.box.y1 - s.box.y0);
  EXPECT_EQ(in, expected) << "the shapes' boxes only";

  const EditPair adj = EditPairAt(o, 3);
  ASSERT_EQ(adj.category, EditCategory::kAdjust);
  const Box b = adj.edits[0].before.box;
  const std::vector<bool> a = ShapesEditPreservedMask(adj, 2);
  EXPECT_FALSE(a[static_cast<size_t>(b.y0) * 32 + b.x0]);
  if (b.x0 >= 2 && b.y0 >= 2) {
    EXPECT_FALSE(a[static_cast<size_t>(b.y0 - 2) * 32 + b.x0 - 2]) << "dilated by the margin";
  }
  if (b.x0 >= 3 && b.y0 >= 3) {
    // Outside the margin: preserved unless another touched box covers it.
    EXPECT_TRUE(a[static_cast<size_t>(b.y0 - 3) * 32 + b.x0 - 3]);
  }
}

TEST(ShapesEditEvalTest, WrongSizeIsInvalidArgument) {
  const EditPair p = ShapesEditPairs(1)[0];
  auto s = ScoreShapesEditImage(p, std::vector<uint8_t>(16 * 16 * 3), 16, 16);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.status().message()).find("expected 32x32x3"), std::string::npos);
}

TEST(ShapesEditEvalTest, FixedSetIsBalancedAndPrefixStable) {
  const std::vector<EditPair> few = ShapesEditPairs(2), many = ShapesEditPairs(5);
  ASSERT_EQ(few.size(), 16u);
  ASSERT_EQ(many.size(), 40u);
  for (size_t i = 0; i < few.size(); ++i) {
    EXPECT_EQ(few[i].dense_instruction, many[i].dense_instruction);
    EXPECT_EQ(few[i].category, static_cast<EditCategory>(i % kNumEditCategories));
  }
}

TEST(ShapesEditEvalTest, SuiteAggregatesPerCategoryAndOverall) {
  const std::vector<EditPair> pairs = ShapesEditPairs(3);
  // An oracle scores 1 everywhere.
  auto oracle = RunShapesEditSuite(pairs, [](const EditPair& p, const std::vector<uint8_t>&)
                                              -> StatusOr<std::vector<uint8_t>> {
    return Render(p.target);
  });
  ASSERT_TRUE(oracle.ok()) << oracle.status();
  EXPECT_DOUBLE_EQ(oracle->overall, 1.0);
  EXPECT_DOUBLE_EQ(oracle->masked_psnr, 100.0);
  EXPECT_EQ(oracle->pairs, 24);
  ASSERT_EQ(oracle->categories.size(), 8u);
  EXPECT_EQ(oracle->categories[0].category, "add");
  EXPECT_EQ(oracle->categories[7].category, "extract");
  EXPECT_EQ(oracle->categories[7].pairs, 3);
  // Returning the source: nothing carried out, everything preserved.
  std::vector<ShapesEditImageScore> per_pair;
  auto copy = RunShapesEditSuite(
      pairs,
      [](const EditPair&, const std::vector<uint8_t>& src) -> StatusOr<std::vector<uint8_t>> {
        return src;
      },
      ShapesDetector(), {}, &per_pair);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_DOUBLE_EQ(copy->overall, 0.0);
  EXPECT_DOUBLE_EQ(copy->carried_out, 0.0);
  EXPECT_DOUBLE_EQ(copy->preserved, 1.0);
  EXPECT_EQ(per_pair.size(), 24u);
  // The model's error names the pair.
  auto err = RunShapesEditSuite(pairs, [](const EditPair& p, const std::vector<uint8_t>&)
                                           -> StatusOr<std::vector<uint8_t>> {
    if (p.index == 2) return InternalError("sampler blew up");
    return Render(p.target);
  });
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().code(), StatusCode::kInternal);
  EXPECT_NE(std::string(err.status().message()).find("shapes_edit pair 2 (replace): sampler blew up"),
            std::string::npos)
      << err.status();
}

// By hand: add has 2 pairs (1 correct), remove 1 pair (correct), nothing
// else. Accuracies 0.5 and 1: overall (0.5 + 1) / 2 = 0.75 (a mean over
// categories; the mean over pairs would be 2/3). PSNR: 100 (capped inf),
// 30, 40: mean 170 / 3.
TEST(ShapesEditEvalTest, SummaryIsTheMeanOverCategories) {
  ShapesEditOptions o{/*seed=*/1, 32};
  const std::vector<EditPair> pairs = {EditPairAt(o, 0), EditPairAt(o, 8), EditPairAt(o, 1)};
  std::vector<ShapesEditImageScore> scores(3);
  scores[0].correct = scores[0].carried_out = scores[0].preserved = true;
  scores[0].masked_psnr = std::numeric_limits<double>::infinity();
  scores[1].preserved = true;
  scores[1].masked_psnr = 30;
  scores[2].correct = scores[2].carried_out = scores[2].preserved = true;
  scores[2].masked_psnr = 40;
  auto s = SummarizeShapesEdit(pairs, scores);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->overall, 0.75);
  EXPECT_DOUBLE_EQ(s->carried_out, 0.75);
  EXPECT_DOUBLE_EQ(s->preserved, 1.0);
  EXPECT_DOUBLE_EQ(s->masked_psnr, 170.0 / 3);
  ASSERT_EQ(s->categories.size(), 2u);
  EXPECT_EQ(s->categories[0].category, "add");
  EXPECT_DOUBLE_EQ(s->categories[0].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(s->categories[0].masked_psnr, 65.0);
  EXPECT_EQ(s->categories[1].category, "remove");
  EXPECT_FALSE(SummarizeShapesEdit(pairs, {}).ok());
}

TEST(ShapesEditEvalTest, JsonForTheEvaluatorsOutputs) {
  const std::vector<EditPair> pairs = ShapesEditPairs(1);
  std::vector<ShapesEditImageScore> per_pair;
  auto s = RunShapesEditSuite(
      pairs,
      [](const EditPair& p, const std::vector<uint8_t>& src) -> StatusOr<std::vector<uint8_t>> {
        return p.index == 0 ? Render(p.target) : src;
      },
      ShapesDetector(), {}, &per_pair);
  ASSERT_TRUE(s.ok()) << s.status();
  const auto row0 = nlohmann::json::parse(ShapesEditResultJson(pairs[0], per_pair[0]));
  EXPECT_EQ(row0["category"], "add");
  EXPECT_EQ(row0["instruction"], pairs[0].dense_instruction);
  EXPECT_TRUE(row0["correct"].get<bool>());
  EXPECT_TRUE(row0["masked_psnr"].is_null()) << "infinite";
  EXPECT_TRUE(row0["failures"].empty());
  const auto row1 = nlohmann::json::parse(ShapesEditResultJson(pairs[1], per_pair[1]));
  EXPECT_FALSE(row1["carried_out"].get<bool>());
  EXPECT_FALSE(row1["failures"].empty());
  const auto sum = nlohmann::json::parse(ShapesEditSummaryJson(*s));
  EXPECT_DOUBLE_EQ(sum["overall"].get<double>(), 1.0 / 8);
  EXPECT_DOUBLE_EQ(sum["categories"]["add"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(sum["categories"]["extract"].get<double>(), 0.0);
  EXPECT_EQ(sum["pairs"].get<int>(), 8);
}

}  // namespace
}  // namespace reca
