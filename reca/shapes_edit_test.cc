#include "reca/shapes_edit.h"

#include <set>

#include "gtest/gtest.h"

namespace reca {
namespace {

bool Same(const ShapeInstance& a, const ShapeInstance& b) {
  return a.kind == b.kind && a.color == b.color && a.box.x0 == b.box.x0 &&
         a.box.y0 == b.box.y0 && a.box.x1 == b.box.x1 && a.box.y1 == b.box.y1;
}

bool Inside(const Box& b, int x, int y) {
  return x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1;
}

// The target an independent reader of the metadata expects: the source with
// each described change applied, untouched shapes kept in order, added
// shapes at the end.
Scene ApplyDescribed(const EditPair& p) {
  Scene s = p.source;
  for (const ShapeEdit& e : p.edits) {
    auto find = [&](const ShapeInstance& want) {
      for (size_t i = 0; i < s.shapes.size(); ++i) {
        if (Same(s.shapes[i], want)) return static_cast<int>(i);
      }
      return -1;
    };
    switch (e.category) {
      case EditCategory::kAdd:
        s.shapes.push_back(e.after);
        break;
      case EditCategory::kRemove:
        s.shapes.erase(s.shapes.begin() + find(e.before));
        break;
      case EditCategory::kReplace:
      case EditCategory::kAdjust:
      case EditCategory::kMove:
        s.shapes[find(e.before)] = e.after;
        break;
      case EditCategory::kBackground:
        s.background = e.background_after;
        break;
      case EditCategory::kExtract: {
        const ShapeInstance keep = e.before;
        s.shapes = {keep};
        break;
      }
      case EditCategory::kCompose:
        ADD_FAILURE() << "compose is never atomic";
    }
  }
  return s;
}

TEST(ShapesEditTest, DeterministicInSeedAndIndex) {
  ShapesEditOptions a{/*seed=*/3, /*image_size=*/32}, c{/*seed=*/4, 32};
  int different = 0;
  for (uint64_t i = 0; i < 80; ++i) {
    const EditPair p = EditPairAt(a, i), q = EditPairAt(a, i), r = EditPairAt(c, i);
    EXPECT_EQ(p.dense_instruction, q.dense_instruction);
    EXPECT_EQ(p.sparse_instruction, q.sparse_instruction);
    EXPECT_EQ(ShapesWorld::Render(p.source), ShapesWorld::Render(q.source));
    EXPECT_EQ(ShapesWorld::Render(p.target), ShapesWorld::Render(q.target));
    EXPECT_EQ(p.category, static_cast<EditCategory>(i % kNumEditCategories));
    different += p.dense_instruction != r.dense_instruction;
  }
  EXPECT_GT(different, 70);
  // Random access: pair 37 alone equals pair 37 after others.
  EXPECT_EQ(EditPairAt({3, 32}, 37).dense_instruction, EditPairAt(a, 37).dense_instruction);
  // The source is the world's own scene when the edit is possible there.
  EXPECT_EQ(ShapesWorld::Render(EditPairAt(a, 3).source),
            ShapesWorld::Render(ShapesWorld({3, 32}).SceneAt(3)));
}

TEST(ShapesEditTest, CategoryNamesRoundTrip) {
  for (int k = 0; k < kNumEditCategories; ++k) {
    EditCategory c;
    ASSERT_TRUE(ParseEditCategory(EditCategoryName(static_cast<EditCategory>(k)), &c));
    EXPECT_EQ(static_cast<int>(c), k);
  }
  EditCategory c;
  EXPECT_FALSE(ParseEditCategory("style", &c));
  EXPECT_EQ(BackgroundName({128, 128, 128}), "grey");
  EXPECT_EQ(BackgroundName({96, 104, 112}), "slate");
  EXPECT_EQ(BackgroundName({168, 160, 150}), "beige");
  EXPECT_EQ(BackgroundName({1, 2, 3}), "plain");
}

// Every pair: the target is the source with exactly the described change;
// the world's invariants hold; untouched pixels are identical.
TEST(ShapesEditTest, PairsAreExact) {
  std::vector<int> seen(kNumEditCategories, 0);
  for (int size : {32, 48}) {
    ShapesEditOptions o{/*seed=*/11, size};
    for (uint64_t i = 0; i < 400; ++i) {
      const EditPair p = EditPairAt(o, i);
      SCOPED_TRACE(std::to_string(i) + ": " + p.dense_instruction);
      ++seen[static_cast<int>(p.category)];
      const Scene& s = p.source;
      const Scene& t = p.target;
      const size_t ns = s.shapes.size(), nt = t.shapes.size();
      ASSERT_GE(nt, 1u);
      ASSERT_LE(nt, 4u);
      // The target world's invariants: in bounds, disjoint, distinct colours.
      std::set<int> colors;
      for (size_t a = 0; a < nt; ++a) {
        const Box& b = t.shapes[a].box;
        EXPECT_TRUE(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= size && b.y1 <= size);
        EXPECT_EQ(b.x1 - b.x0, b.y1 - b.y0);
        colors.insert(static_cast<int>(t.shapes[a].color));
        for (size_t c = a + 1; c < nt; ++c) {
          const Box& d = t.shapes[c].box;
          EXPECT_FALSE(b.x0 < d.x1 + 1 && d.x0 < b.x1 + 1 && b.y0 < d.y1 + 1 &&
                       d.y0 < b.y1 + 1);
        }
      }
      EXPECT_EQ(colors.size(), nt);
      // The described change, applied independently, gives the target.
      const Scene expected = ApplyDescribed(p);
      ASSERT_EQ(expected.shapes.size(), nt);
      for (size_t j = 0; j < nt; ++j) EXPECT_TRUE(Same(expected.shapes[j], t.shapes[j]));
      EXPECT_EQ(ShapesWorld::Render(expected), ShapesWorld::Render(t));
      // Untouched shapes are byte-identical at their mapped place.
      ASSERT_EQ(p.target_of_source.size(), ns);
      ASSERT_EQ(p.touched_target.size(), nt);
      for (size_t k = 0; k < ns; ++k) {
        if (p.touched_source[k]) continue;
        ASSERT_GE(p.target_of_source[k], 0);
        EXPECT_TRUE(Same(s.shapes[k], t.shapes[p.target_of_source[k]]));
        EXPECT_FALSE(p.touched_target[p.target_of_source[k]]);
      }
      // Per category.
      const ShapeEdit& e = p.edits[0];
      switch (p.category) {
        case EditCategory::kAdd:
          EXPECT_EQ(nt, ns + 1);
          EXPECT_TRUE(Same(t.shapes[e.target_index], e.after));
          EXPECT_TRUE(p.cell_only_target[e.target_index]);
          break;
        case EditCategory::kRemove:
          EXPECT_EQ(nt + 1, ns);
          EXPECT_EQ(p.target_of_source[e.source_index], -1);
          break;
        case EditCategory::kReplace:
          EXPECT_NE(e.after.kind, e.before.kind);
          EXPECT_EQ(e.after.color, e.before.color);
          EXPECT_TRUE(Same(ShapeInstance{e.before.kind, e.after.color, e.after.box}, e.before));
          break;
        case EditCategory::kAdjust:
          EXPECT_NE(e.after.color, e.before.color);
          EXPECT_TRUE(Same(ShapeInstance{e.after.kind, e.before.color, e.after.box}, e.before));
          break;
        case EditCategory::kMove:
          EXPECT_NE(ShapesWorld::PositionPhrase(e.after.box, size),
                    ShapesWorld::PositionPhrase(e.before.box, size));
          EXPECT_EQ(e.after.box.x1 - e.after.box.x0, e.before.box.x1 - e.before.box.x0);
          break;
        case EditCategory::kBackground:
          EXPECT_TRUE(p.background_changed);
          EXPECT_EQ(nt, ns);
          break;
        case EditCategory::kCompose:
          ASSERT_EQ(p.edits.size(), 2u);
          EXPECT_NE(p.edits[0].category, p.edits[1].category);
          EXPECT_NE(p.dense_instruction.find(" and "), std::string::npos);
          break;
        case EditCategory::kExtract:
          EXPECT_EQ(nt, 1u);
          EXPECT_GE(ns, 2u);
          EXPECT_TRUE(Same(t.shapes[0], e.before));
          break;
      }
      if (p.category != EditCategory::kBackground) {
        EXPECT_FALSE(p.background_changed);
      }
      if (p.category != EditCategory::kCompose) {
        EXPECT_EQ(p.edits.size(), 1u);
      }
      // Pixels: outside the touched boxes the renders agree; a background
      // change keeps every pixel of the shapes.
      const std::vector<uint8_t> a = ShapesWorld::Render(s), b = ShapesWorld::Render(t);
      const std::vector<Box> boxes = p.TouchedBoxes();
      int differing_outside = 0;
      for (int y = 0; y < size; ++y) {
        for (int x = 0; x < size; ++x) {
          const size_t q = (static_cast<size_t>(y) * size + x) * 3;
          const bool bg = a[q] == s.background.r && a[q + 1] == s.background.g &&
                          a[q + 2] == s.background.b;
          if (p.background_changed && bg) continue;
          bool in_touched = false;
          for (const Box& box : boxes) in_touched = in_touched || Inside(box, x, y);
          if (in_touched) continue;
          differing_outside += a[q] != b[q] || a[q + 1] != b[q + 1] || a[q + 2] != b[q + 2];
        }
      }
      EXPECT_EQ(differing_outside, 0);
      EXPECT_NE(a, b) << "an edit changes something";
    }
  }
  for (int k = 0; k < kNumEditCategories; ++k) EXPECT_EQ(seen[k], 100) << k;
}

TEST(ShapesEditTest, DenseNamesEveryAttribute) {
  ShapesEditOptions o{/*seed=*/5, 32};
  for (uint64_t i = 0; i < 200; ++i) {
    const EditPair p = EditPairAt(o, i);
    SCOPED_TRACE(p.dense_instruction);
    for (const ShapeEdit& e : p.edits) {
      if (e.source_index >= 0) {
        const std::string ref = std::string(ColorNameString(e.before.color)) + " " +
                                ShapeKindName(e.before.kind) + " " +
                                ShapesWorld::PositionPhrase(e.before.box, 32);
        EXPECT_NE(e.dense.find("the " + ref), std::string::npos);
      }
    }
    const ShapeEdit& e = p.edits[0];
    const std::string ref = e.source_index >= 0
                                ? std::string("the ") + ColorNameString(e.before.color) + " " +
                                      ShapeKindName(e.before.kind) + " " +
                                      ShapesWorld::PositionPhrase(e.before.box, 32)
                                : "";
    switch (p.category) {
      case EditCategory::kAdjust:
        EXPECT_EQ(p.dense_instruction,
                  "change " + ref + " to " + ColorNameString(e.after.color) + " .");
        break;
      case EditCategory::kRemove:
        EXPECT_EQ(p.dense_instruction, "remove " + ref + " .");
        break;
      case EditCategory::kBackground:
        EXPECT_EQ(p.dense_instruction, "change the " + BackgroundName(p.source.background) +
                                           " background to " +
                                           BackgroundName(p.target.background) + " .");
        EXPECT_EQ(p.sparse_instruction,
                  "make the background " + BackgroundName(p.target.background) + " .");
        break;
      case EditCategory::kAdd: {
        const std::string what = std::string(ColorNameString(e.after.color)) + " " +
                                 ShapeKindName(e.after.kind) + " " +
                                 ShapesWorld::PositionPhrase(e.after.box, 32);
        EXPECT_NE(p.dense_instruction.find(what), std::string::npos);
        EXPECT_EQ(p.sparse_instruction, p.dense_instruction) << "an add keeps everything";
        break;
      }
      default:
        break;
    }
  }
}

// Sparse phrasing: a shape by its kind alone when no other source shape (nor
// a shape the instruction adds) has that kind; else colour and kind; never a
// position of an existing shape.
TEST(ShapesEditTest, SparseDropsOnlyWhatIsUnambiguous) {
  ShapesEditOptions o{/*seed=*/9, 32};
  int by_kind = 0, by_color = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    const EditPair p = EditPairAt(o, i);
    SCOPED_TRACE(p.sparse_instruction);
    for (const ShapeEdit& e : p.edits) {
      if (e.source_index < 0) continue;
      int same_kind = 0;
      for (const ShapeInstance& s : p.source.shapes) same_kind += s.kind == e.before.kind;
      for (const ShapeEdit& f : p.edits) {
        same_kind += f.category == EditCategory::kAdd && f.after.kind == e.before.kind;
      }
      const std::string kind = ShapeKindName(e.before.kind);
      const std::string colored = std::string(ColorNameString(e.before.color)) + " " + kind;
      EXPECT_EQ(e.sparse.find(ShapesWorld::PositionPhrase(e.before.box, 32)),
                std::string::npos);
      if (same_kind == 1) {
        ++by_kind;
        EXPECT_NE(e.sparse.find("the " + kind), std::string::npos);
        EXPECT_EQ(e.sparse.find("the " + colored), std::string::npos);
      } else {
        ++by_color;
        EXPECT_NE(e.sparse.find("the " + colored), std::string::npos);
      }
      if (e.category == EditCategory::kAdjust) {
        EXPECT_EQ(e.sparse, "make " + std::string(same_kind == 1 ? "the " + kind
                                                                 : "the " + colored) +
                                " " + ColorNameString(e.after.color));
      }
      if (e.category == EditCategory::kMove) {
        // Where it goes is kept.
        const std::string to = ShapesWorld::PositionPhrase(e.after.box, 32);
        EXPECT_NE(e.sparse.find(to.substr(to.find(' ') + 1)), std::string::npos);
      }
    }
  }
  EXPECT_GT(by_kind, 50);
  EXPECT_GT(by_color, 10);
}

TEST(ShapesEditTest, ImpossibleCategoriesFallBackToAdjust) {
  ShapesEditOptions one{/*seed=*/2, 32, /*min_shapes=*/1, /*max_shapes=*/1};
  const EditPair p = EditPairAt(one, 1);  // remove needs two shapes
  EXPECT_EQ(p.category, EditCategory::kAdjust);
  EXPECT_EQ(p.target.shapes.size(), 1u);
  // Forcing a category keeps the source draw.
  const EditPair q = EditPairAt({2, 32}, 5, EditCategory::kAdjust);
  EXPECT_EQ(q.category, EditCategory::kAdjust);
}

}  // namespace
}  // namespace reca
