#include "reca/shapes_edit.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "reca/rng.h"

namespace reca {
namespace {

// The world's backgrounds (reca/shapes_world.cc), named.
constexpr std::array<Rgb, 3> kBackgrounds = {
    {{128, 128, 128}, {96, 104, 112}, {168, 160, 150}}};
constexpr std::array<const char*, 3> kBackgroundNames = {"grey", "slate",
                                                          "beige"};
constexpr std::array<const char*, kNumEditCategories> kCategoryNames = {
    "add", "remove", "replace", "adjust", "move", "background", "compose",
    "extract"};
// The atomic categories a compose pair draws two of.
constexpr std::array<EditCategory, 5> kComposable = {
    EditCategory::kAdd, EditCategory::kRemove, EditCategory::kReplace,
    EditCategory::kAdjust, EditCategory::kMove};
constexpr int kMaxShapes = 4;      // the world's contract
constexpr int kMaxAttempts = 256;  // source draws before the adjust fallback
constexpr int kPlaceTries = 64;    // positions tried for an add or a move
constexpr int kAddedUid = 1000;    // uids of added shapes start here

bool SameRgb(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

int BackgroundIndex(Rgb c) {
  for (size_t k = 0; k < kBackgrounds.size(); ++k) {
    if (SameRgb(kBackgrounds[k], c)) return static_cast<int>(k);
  }
  return -1;
}

bool Overlaps(const Box& a, const Box& b, int margin) {
  return a.x0 < b.x1 + margin && b.x0 < a.x1 + margin &&
         a.y0 < b.y1 + margin && b.y0 < a.y1 + margin;
}

std::string WithArticle(const std::string& phrase) {
  const char c = phrase.empty() ? 'x' : phrase[0];
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return (vowel ? "an " : "a ") + phrase;
}

std::string Kind(ShapeKind k) { return ShapeKindName(k); }
std::string Color(ColorName c) { return ColorNameString(c); }

// "at the top left" -> "the top left"; "in the center" -> "the center".
std::string PlaceNoun(const std::string& phrase) {
  const size_t space = phrase.find(' ');
  return space == std::string::npos ? phrase : phrase.substr(space + 1);
}

// The edit being drawn: the current scene with, per shape, a stable id
// (source index, or kAddedUid + n for added shapes) and what was done to it.
struct Work {
  Scene source;
  Scene scene;
  std::vector<int> uid;
  std::vector<bool> touched, cell_only;
  std::vector<bool> source_touched;  // per source shape
  std::vector<ShapeEdit> edits;
  std::vector<int> edit_uid;  // per edit: the shape it leaves (-1: none)
  int added = 0;

  explicit Work(const Scene& s) : source(s), scene(s) {
    for (size_t i = 0; i < s.shapes.size(); ++i) uid.push_back(static_cast<int>(i));
    touched.assign(s.shapes.size(), false);
    cell_only.assign(s.shapes.size(), false);
    source_touched.assign(s.shapes.size(), false);
  }

  int MinSide() const {
    return std::max(4, static_cast<int>(std::lround(0.25 * scene.image_size)));
  }
  int MaxSide() const {
    return std::max(MinSide(),
                    static_cast<int>(std::lround(0.40 * scene.image_size)));
  }
  // A colour no source or current shape has.
  bool FreeColor(Rng& rng, ColorName* out) const {
    std::array<bool, kNumColors> used{};
    for (const ShapeInstance& s : source.shapes) used[static_cast<int>(s.color)] = true;
    for (const ShapeInstance& s : scene.shapes) used[static_cast<int>(s.color)] = true;
    if (std::all_of(used.begin(), used.end(), [](bool u) { return u; })) return false;
    int c = static_cast<int>(rng.Below(kNumColors));
    while (used[c]) c = (c + 1) % kNumColors;
    *out = static_cast<ColorName>(c);
    return true;
  }
  bool FreeBox(const Box& box, int except) const {
    if (box.x0 < 0 || box.y0 < 0 || box.x1 > scene.image_size ||
        box.y1 > scene.image_size) {
      return false;
    }
    for (size_t i = 0; i < scene.shapes.size(); ++i) {
      if (static_cast<int>(i) != except && Overlaps(box, scene.shapes[i].box, 1))
        return false;
    }
    return true;
  }
  // An untouched shape of the source, uniformly; -1 when there is none.
  int PickUntouched(Rng& rng) const {
    std::vector<int> eligible;
    for (size_t i = 0; i < scene.shapes.size(); ++i) {
      if (!touched[i] && uid[i] < kAddedUid) eligible.push_back(static_cast<int>(i));
    }
    if (eligible.empty()) return -1;
    return eligible[static_cast<size_t>(rng.Below(static_cast<int64_t>(eligible.size())))];
  }
  void Record(ShapeEdit e, int shape_uid) {
    edits.push_back(std::move(e));
    edit_uid.push_back(shape_uid);
  }
  void Erase(int i) {
    scene.shapes.erase(scene.shapes.begin() + i);
    uid.erase(uid.begin() + i);
    touched.erase(touched.begin() + i);
    cell_only.erase(cell_only.begin() + i);
  }

  bool Apply(EditCategory category, Rng& rng) {
    switch (category) {
      case EditCategory::kAdd: {
        if (static_cast<int>(scene.shapes.size()) >= kMaxShapes) return false;
        ShapeInstance s;
        if (!FreeColor(rng, &s.color)) return false;
        s.kind = static_cast<ShapeKind>(rng.Below(kNumShapeKinds));
        const int side = static_cast<int>(rng.Between(MinSide(), MaxSide()));
        const int n = scene.image_size;
        bool placed = false;
        for (int t = 0; t < kPlaceTries && !placed; ++t) {
          const int x0 = static_cast<int>(rng.Between(0, n - side));
          const int y0 = static_cast<int>(rng.Between(0, n - side));
          s.box = Box{x0, y0, x0 + side, y0 + side};
          placed = FreeBox(s.box, -1);
        }
        if (!placed) return false;
        scene.shapes.push_back(s);
        uid.push_back(kAddedUid + added++);
        touched.push_back(true);
        cell_only.push_back(true);
        ShapeEdit e;
        e.category = category;
        e.after = s;
        Record(e, uid.back());
        return true;
      }
      case EditCategory::kRemove: {
        if (scene.shapes.size() < 2) return false;
        const int i = PickUntouched(rng);
        if (i < 0) return false;
        ShapeEdit e;
        e.category = category;
        e.source_index = uid[i];
        e.before = scene.shapes[i];
        source_touched[uid[i]] = true;
        Erase(i);
        Record(e, -1);
        return true;
      }
      case EditCategory::kReplace:
      case EditCategory::kAdjust: {
        const int i = PickUntouched(rng);
        if (i < 0) return false;
        ShapeEdit e;
        e.category = category;
        e.source_index = uid[i];
        e.before = scene.shapes[i];
        e.after = e.before;
        if (category == EditCategory::kReplace) {
          e.after.kind = static_cast<ShapeKind>(
              (static_cast<int>(e.before.kind) + 1 + rng.Below(kNumShapeKinds - 1)) %
              kNumShapeKinds);
        } else if (!FreeColor(rng, &e.after.color)) {
          return false;
        }
        scene.shapes[i] = e.after;
        touched[i] = true;
        source_touched[uid[i]] = true;
        Record(e, uid[i]);
        return true;
      }
      case EditCategory::kMove: {
        const int i = PickUntouched(rng);
        if (i < 0) return false;
        const ShapeInstance before = scene.shapes[i];
        const int side = before.box.x1 - before.box.x0;
        const int n = scene.image_size;
        const std::string old_cell = ShapesWorld::PositionPhrase(before.box, n);
        Box box{};
        bool placed = false;
        for (int t = 0; t < kPlaceTries && !placed; ++t) {
          const int x0 = static_cast<int>(rng.Between(0, n - side));
          const int y0 = static_cast<int>(rng.Between(0, n - side));
          box = Box{x0, y0, x0 + side, y0 + side};
          placed = FreeBox(box, i) && ShapesWorld::PositionPhrase(box, n) != old_cell;
        }
        if (!placed) return false;
        ShapeEdit e;
        e.category = category;
        e.source_index = uid[i];
        e.before = before;
        e.after = before;
        e.after.box = box;
        scene.shapes[i] = e.after;
        touched[i] = true;
        cell_only[i] = true;
        source_touched[uid[i]] = true;
        Record(e, uid[i]);
        return true;
      }
      case EditCategory::kBackground: {
        const int k = BackgroundIndex(scene.background);
        const int next = k < 0 ? static_cast<int>(rng.Below(3))
                               : (k + 1 + static_cast<int>(rng.Below(2))) % 3;
        ShapeEdit e;
        e.category = category;
        e.background_before = scene.background;
        e.background_after = kBackgrounds[next];
        scene.background = e.background_after;
        Record(e, -1);
        return true;
      }
      case EditCategory::kExtract: {
        if (scene.shapes.size() < 2) return false;
        const int i = PickUntouched(rng);
        if (i < 0) return false;
        const int keep = uid[i];
        ShapeEdit e;
        e.category = category;
        e.source_index = keep;
        e.before = scene.shapes[i];
        e.after = e.before;
        for (int j = static_cast<int>(scene.shapes.size()) - 1; j >= 0; --j) {
          if (uid[j] == keep) continue;
          if (uid[j] < kAddedUid) source_touched[uid[j]] = true;
          Erase(j);
        }
        Record(e, keep);
        return true;
      }
      case EditCategory::kCompose: {
        const int first = static_cast<int>(rng.Below(kComposable.size()));
        const int second = (first + 1 + static_cast<int>(rng.Below(kComposable.size() - 1))) %
                           static_cast<int>(kComposable.size());
        return Apply(kComposable[first], rng) && Apply(kComposable[second], rng);
      }
    }
    return false;
  }
};

// How an instruction names a source shape: dense with every attribute;
// sparse by kind alone when that is unambiguous, else colour and kind.
std::string Reference(const ShapeInstance& s, const EditPair& pair, bool dense) {
  const int n = pair.source.image_size;
  if (dense) {
    return "the " + Color(s.color) + " " + Kind(s.kind) + " " +
           ShapesWorld::PositionPhrase(s.box, n);
  }
  int same_kind = 0;
  for (const ShapeInstance& o : pair.source.shapes) same_kind += o.kind == s.kind;
  for (const ShapeEdit& e : pair.edits) {
    if (e.category == EditCategory::kAdd && e.after.kind == s.kind) ++same_kind;
  }
  if (same_kind == 1) return "the " + Kind(s.kind);
  return "the " + Color(s.color) + " " + Kind(s.kind);
}

std::string Clause(const ShapeEdit& e, const EditPair& pair, bool dense) {
  const int n = pair.source.image_size;
  switch (e.category) {
    case EditCategory::kAdd:
      return "add " + WithArticle(Color(e.after.color) + " " + Kind(e.after.kind)) +
             " " + ShapesWorld::PositionPhrase(e.after.box, n);
    case EditCategory::kRemove:
      return "remove " + Reference(e.before, pair, dense);
    case EditCategory::kReplace:
      return "replace " + Reference(e.before, pair, dense) + " with " +
             WithArticle(dense ? Color(e.after.color) + " " + Kind(e.after.kind)
                               : Kind(e.after.kind));
    case EditCategory::kAdjust:
      return dense ? "change " + Reference(e.before, pair, true) + " to " +
                         Color(e.after.color)
                   : "make " + Reference(e.before, pair, false) + " " +
                         Color(e.after.color);
    case EditCategory::kMove:
      return "move " + Reference(e.before, pair, dense) + " to " +
             PlaceNoun(ShapesWorld::PositionPhrase(e.after.box, n));
    case EditCategory::kBackground:
      return dense ? "change the " + BackgroundName(e.background_before) +
                         " background to " + BackgroundName(e.background_after)
                   : "make the background " + BackgroundName(e.background_after);
    case EditCategory::kExtract:
      return "extract " + Reference(e.before, pair, dense);
    case EditCategory::kCompose:
      break;
  }
  return "";
}

EditPair Finish(const Work& w, uint64_t index, EditCategory category) {
  EditPair p;
  p.index = index;
  p.category = category;
  p.source = w.source;
  p.target = w.scene;
  p.edits = w.edits;
  p.background_changed = !SameRgb(p.source.background, p.target.background);
  const size_t ns = p.source.shapes.size(), nt = p.target.shapes.size();
  p.target_of_source.assign(ns, -1);
  p.touched_source = w.source_touched;
  p.touched_target = w.touched;
  p.cell_only_target = w.cell_only;
  for (size_t j = 0; j < nt; ++j) {
    if (w.uid[j] < kAddedUid) p.target_of_source[w.uid[j]] = static_cast<int>(j);
  }
  for (size_t k = 0; k < p.edits.size(); ++k) {
    for (size_t j = 0; j < nt; ++j) {
      if (w.uid[j] == w.edit_uid[k]) p.edits[k].target_index = static_cast<int>(j);
    }
  }
  std::string dense, sparse;
  for (ShapeEdit& e : p.edits) {
    e.dense = Clause(e, p, true);
    e.sparse = Clause(e, p, false);
    dense += (dense.empty() ? "" : " and ") + e.dense;
    sparse += (sparse.empty() ? "" : " and ") + e.sparse;
  }
  p.dense_instruction = dense + " .";
  p.sparse_instruction = sparse + " .";
  return p;
}

}  // namespace

const char* EditCategoryName(EditCategory c) {
  return kCategoryNames[static_cast<int>(c)];
}

bool ParseEditCategory(const std::string& name, EditCategory* out) {
  for (int k = 0; k < kNumEditCategories; ++k) {
    if (name == kCategoryNames[k]) {
      *out = static_cast<EditCategory>(k);
      return true;
    }
  }
  return false;
}

std::string BackgroundName(Rgb background) {
  const int k = BackgroundIndex(background);
  return k < 0 ? "plain" : kBackgroundNames[k];
}

std::vector<Box> EditPair::TouchedBoxes() const {
  std::vector<Box> out;
  for (size_t i = 0; i < source.shapes.size(); ++i) {
    if (touched_source[i]) out.push_back(source.shapes[i].box);
  }
  for (size_t j = 0; j < target.shapes.size(); ++j) {
    if (touched_target[j]) out.push_back(target.shapes[j].box);
  }
  return out;
}

EditPair EditPairAt(const ShapesEditOptions& options, uint64_t index) {
  return EditPairAt(options, index,
                    static_cast<EditCategory>(index % kNumEditCategories));
}

EditPair EditPairAt(const ShapesEditOptions& o, uint64_t index,
                    EditCategory category) {
  const uint64_t edit_seed = SplitMix64(o.seed ^ 0xed17ed17ed17ull);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ShapesWorldOptions wo;
    wo.seed = attempt == 0 ? o.seed : SplitMix64(o.seed + static_cast<uint64_t>(attempt));
    wo.image_size = o.image_size;
    wo.min_shapes = o.min_shapes;
    wo.max_shapes = o.max_shapes;
    Work w(ShapesWorld(wo).SceneAt(index));
    Rng rng(edit_seed, index * kMaxAttempts + static_cast<uint64_t>(attempt));
    if (w.Apply(category, rng)) return Finish(w, index, category);
  }
  // Options that make the category impossible everywhere (max_shapes 1 for
  // remove or extract, min_shapes 4 for add): an adjust, always possible.
  Work w(ShapesWorld({o.seed, o.image_size, o.min_shapes, o.max_shapes}).SceneAt(index));
  Rng rng(edit_seed, index * kMaxAttempts);
  w.Apply(EditCategory::kAdjust, rng);
  return Finish(w, index, EditCategory::kAdjust);
}

std::vector<EditPair> ShapesEditPairs(int pairs_per_category, int image_size) {
  ShapesEditOptions o;
  o.seed = kShapesEditSeed;
  o.image_size = image_size;
  std::vector<EditPair> out;
  const uint64_t total =
      static_cast<uint64_t>(std::max(0, pairs_per_category)) * kNumEditCategories;
  for (uint64_t i = 0; i < total; ++i) out.push_back(EditPairAt(o, i));
  return out;
}


}  // namespace reca
