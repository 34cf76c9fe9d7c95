#include "reca/shapes_world.h"

#include <set>

#include "gtest/gtest.h"

namespace reca {
namespace {

TEST(ShapesWorldTest, DeterministicBySeedAndIndex) {
  ShapesWorld a({/*seed=*/5, /*image_size=*/32}), b({5, 32}), c({6, 32});
  int different = 0;
  for (uint64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(ShapesWorld::Render(a.SceneAt(i)), ShapesWorld::Render(b.SceneAt(i)));
    EXPECT_EQ(ShapesWorld::DenseCaption(a.SceneAt(i)), ShapesWorld::DenseCaption(b.SceneAt(i)));
    different += ShapesWorld::Render(a.SceneAt(i)) != ShapesWorld::Render(c.SceneAt(i));
  }
  EXPECT_GT(different, 45);
  // Random access: index 17 alone equals index 17 after generating others.
  EXPECT_EQ(ShapesWorld::Render(ShapesWorld({5, 32}).SceneAt(17)),
            ShapesWorld::Render(a.SceneAt(17)));
}

TEST(ShapesWorldTest, MetadataIsExact) {
  ShapesWorld world({11, 32});
  std::set<size_t> counts;
  for (uint64_t i = 0; i < 300; ++i) {
    const Scene s = world.SceneAt(i);
    ASSERT_GE(s.shapes.size(), 1u);
    ASSERT_LE(s.shapes.size(), 4u);
    counts.insert(s.shapes.size());
    std::set<int> colors;
    const std::vector<uint8_t> px = ShapesWorld::Render(s);
    for (size_t a = 0; a < s.shapes.size(); ++a) {
      const Box& b = s.shapes[a].box;
      ASSERT_GE(b.x0, 0);
      ASSERT_LE(b.x1, 32);
      ASSERT_GE(b.y0, 0);
      ASSERT_LE(b.y1, 32);
      colors.insert(static_cast<int>(s.shapes[a].color));
      for (size_t o = a + 1; o < s.shapes.size(); ++o) {
        const Box& c = s.shapes[o].box;
        ASSERT_FALSE(b.x0 < c.x1 && c.x0 < b.x1 && b.y0 < c.y1 && c.y0 < b.y1) << "overlap";
      }
      // Every shape paints its colour only inside its box, and its box centre
      // row is painted (all five shapes cover their centre).
      const Rgb want = ColorValue(s.shapes[a].color);
      int painted = 0, outside = 0;
      for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 32; ++x) {
          const uint8_t* p = &px[(y * 32 + x) * 3];
          if (p[0] == want.r && p[1] == want.g && p[2] == want.b) {
            const bool in = x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1;
            in ? ++painted : ++outside;
          }
        }
      }
      EXPECT_GT(painted, 4) << ShapeKindName(s.shapes[a].kind);
      EXPECT_EQ(outside, 0);
    }
    EXPECT_EQ(colors.size(), s.shapes.size()) << "colours must be distinct";
  }
  EXPECT_EQ(counts.size(), 4u) << "all of 1..4 shapes occur";
}

TEST(ShapesWorldTest, DenseCaptionNamesEverythingSparseDropsAttributes) {
  ShapesWorld world({3, 32});
  int sparse_missing_color = 0, total = 0;
  for (uint64_t i = 0; i < 100; ++i) {
    const Scene s = world.SceneAt(i);
    const std::string dense = ShapesWorld::DenseCaption(s);
    for (const ShapeInstance& sh : s.shapes) {
      EXPECT_NE(dense.find(std::string(ColorNameString(sh.color)) + " " + ShapeKindName(sh.kind)),
                std::string::npos)
          << dense;
      EXPECT_NE(dense.find(ShapesWorld::PositionPhrase(sh.box, 32)), std::string::npos);
    }
    const std::string sparse = ShapesWorld::SparseCaption(s, i);
    EXPECT_EQ(sparse, ShapesWorld::SparseCaption(s, i));
    EXPECT_LT(sparse.size(), dense.size() + 1);
    for (const ShapeInstance& sh : s.shapes) {
      ++total;
      sparse_missing_color += sparse.find(ColorNameString(sh.color)) == std::string::npos;
    }
  }
  EXPECT_GT(sparse_missing_color, total / 2);
  Scene one;
  one.shapes.push_back({ShapeKind::kCircle, ColorName::kOrange, Box{0, 0, 8, 8}});
  EXPECT_EQ(ShapesWorld::DenseCaption(one), "one shape: an orange circle at the top left .");
}

TEST(ShapesWorldTest, PositionPhrases) {
  EXPECT_EQ(ShapesWorld::PositionPhrase(Box{12, 12, 20, 20}, 32), "in the center");
  EXPECT_EQ(ShapesWorld::PositionPhrase(Box{0, 24, 8, 32}, 32), "at the bottom left");
  EXPECT_EQ(ShapesWorld::PositionPhrase(Box{24, 12, 32, 20}, 32), "on the right");
  EXPECT_EQ(ShapesWorld::PositionPhrase(Box{12, 0, 20, 8}, 32), "at the top");
}

}  // namespace
}  // namespace reca
