#include "reca/eval/shapes_eval.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "reca/rng.h"

namespace reca {
namespace {

// fixes the prompt set forever
constexpr uint64_t kPromptSeed = 0x5a4e5e7a1ull;
constexpr const char* kCountWords[] = {"zero", "one", "two", "three", "four"};
const char* const kRelations[] = {"left of", "right of", "above", "below"};

std::string WithArticle(const std::string& phrase) {
  const char c = phrase.empty() ? 'x' : phrase[0];
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return (vowel ? "an " : "a ") + phrase;
}

std::string Kind(int k) { return ShapeKindName(static_cast<ShapeKind>(k)); }
std::string Color(int c) { return ColorNameString(static_cast<ColorName>(c)); }

GenEvalClause Clause(const std::string& cls, int count = 1) {
  GenEvalClause c;
  c.cls = cls;
  c.count = count;
  return c;
}

struct Entry {
  std::string text;
  GenEvalMetadata metadata;
};

Entry Make(const std::string& tag, std::string text,
           std::vector<GenEvalClause> include,
           std::vector<GenEvalClause> exclude = {}) {
  Entry e;
  e.text = std::move(text);
  e.metadata.tag = tag;
  e.metadata.prompt = e.text;
  e.metadata.include = std::move(include);
  e.metadata.exclude = std::move(exclude);
  return e;
}

// Absolute phrases that put A `relation` B: {A's phrase, B's phrase}.
std::pair<const char*, const char*> RelationPhrases(int relation) {
  switch (relation) {
    case 0:
      return {"on the left", "on the right"};
    case 1:
      return {"on the right", "on the left"};
    case 2:
      return {"at the top", "at the bottom"};
    default:
      return {"at the bottom", "at the top"};
  }
}

// Every distinct prompt of a tag, in a canonical order.
std::vector<Entry> Enumerate(int tag) {
  const std::string name = ShapesEvalTags()[tag];
  std::vector<Entry> out;
  switch (tag) {
    case 0:  // single_object
      for (int k = 0; k < kNumShapeKinds; ++k)
        out.push_back(
            Make(name, WithArticle(Kind(k)) + " .", {Clause(Kind(k))}));
      break;
    case 1:  // two_object
      for (int a = 0; a < kNumShapeKinds; ++a) {
        for (int b = 0; b < kNumShapeKinds; ++b) {
          if (a == b) continue;
          out.push_back(
              Make(name,
                   WithArticle(Kind(a)) + " and " + WithArticle(Kind(b)) + " .",
                   {Clause(Kind(a)), Clause(Kind(b))}));
        }
      }
      break;
    case 2:  // counting
      for (int k = 0; k < kNumShapeKinds; ++k) {
        for (int n = 2; n <= 4; ++n) {
          std::string text = std::string(kCountWords[n]) + " shapes: ";
          for (int i = 0; i < n; ++i) {
            text += (i == 0 ? "" : (i + 1 == n ? " and " : ", ")) +
                    WithArticle(Kind(k));
          }
          out.push_back(Make(name, text + " .", {Clause(Kind(k), n)},
                             {Clause(Kind(k), n + 1)}));
        }
      }
      break;
    case 3:  // colors
      for (int k = 0; k < kNumShapeKinds; ++k) {
        for (int c = 0; c < kNumColors; ++c) {
          GenEvalClause cl = Clause(Kind(k));
          cl.color = Color(c);
          out.push_back(
              Make(name, WithArticle(Color(c) + " " + Kind(k)) + " .", {cl}));
        }
      }
      break;
    case 4:  // position: A `relation` B
      for (int a = 0; a < kNumShapeKinds; ++a) {
        for (int b = 0; b < kNumShapeKinds; ++b) {
          if (a == b) continue;
          for (int r = 0; r < 4; ++r) {
            const auto [pa, pb] = RelationPhrases(r);
            GenEvalClause obj = Clause(Kind(a));
            obj.position = std::make_pair(std::string(kRelations[r]), 0);
            out.push_back(Make(name,
                               WithArticle(Kind(a)) + " " + pa + " and " +
                                   WithArticle(Kind(b)) + " " + pb + " .",
                               {Clause(Kind(b)), obj}));
          }
        }
      }
      break;
    default:  // color_attr
      for (int a = 0; a < kNumShapeKinds; ++a) {
        for (int b = 0; b < kNumShapeKinds; ++b) {
          if (a == b) continue;
          for (int ca = 0; ca < kNumColors; ++ca) {
            for (int cb = 0; cb < kNumColors; ++cb) {
              if (ca == cb) continue;
              GenEvalClause x = Clause(Kind(a)), y = Clause(Kind(b));
              x.color = Color(ca);
              y.color = Color(cb);
              out.push_back(
                  Make(name,
                       WithArticle(Color(ca) + " " + Kind(a)) + " and " +
                           WithArticle(Color(cb) + " " + Kind(b)) + " .",
                       {x, y}));
            }
          }
        }
      }
      break;
  }
  return out;
}

int KindIndex(const std::string& name) {
  for (int k = 0; k < kNumShapeKinds; ++k) {
    if (name == ShapeKindName(static_cast<ShapeKind>(k))) return k;
  }
  return 0;
}

int ColorIndex(const std::string& name) {
  for (int c = 0; c < kNumColors; ++c) {
    if (name == ColorNameString(static_cast<ColorName>(c))) return c;
  }
  return 0;
}

// Colours for `n` shapes: the required ones where given, the rest random and
// distinct.
std::vector<int> PickColors(Rng& rng, const std::vector<int>& required) {
  std::vector<bool> used(kNumColors, false);
  for (int c : required) {
    if (c >= 0) used[c] = true;
  }
  std::vector<int> out = required;
  for (int& c : out) {
    if (c >= 0) continue;
    c = static_cast<int>(rng.Below(kNumColors));
    while (used[c]) c = (c + 1) % kNumColors;
    used[c] = true;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& ShapesEvalTags() {
  static const std::vector<std::string>* const kTags =
      new std::vector<std::string>{"single_object", "two_object", "counting",
                                   "colors",        "position",   "color_attr"};
  return *kTags;
}

std::vector<ShapesEvalPrompt> ShapesEvalPrompts(int prompts_per_tag) {
  std::vector<ShapesEvalPrompt> out;
  for (int tag = 0; tag < static_cast<int>(ShapesEvalTags().size()); ++tag) {
    std::vector<Entry> all = Enumerate(tag);
    Rng rng(kPromptSeed, static_cast<uint64_t>(tag));
    for (size_t i = all.size(); i > 1; --i) {  // Fisher-Yates
      std::swap(all[i - 1],
                all[static_cast<size_t>(rng.Below(static_cast<int64_t>(i)))]);
    }
    for (int i = 0; i < prompts_per_tag; ++i) {
      const Entry& e = all[static_cast<size_t>(i) % all.size()];
      ShapesEvalPrompt p;
      p.index = static_cast<int>(out.size());
      p.tag_index = tag;
      p.index_in_tag = i;
      p.text = e.text;
      p.metadata = e.metadata;
      out.push_back(std::move(p));
    }
  }
  return out;
}

Scene ShapesEvalReferenceScene(const ShapesEvalPrompt& prompt, int image_size,
                               uint64_t variant) {
  Rng rng(variant, 0x5eef0000ull + static_cast<uint64_t>(prompt.index));
  const int s = image_size;
  Scene scene;
  scene.image_size = s;
  const int min_side = std::max(4, static_cast<int>(std::lround(0.25 * s)));
  const int max_side =
      std::max(min_side, static_cast<int>(std::lround(0.40 * s)));
  const std::vector<GenEvalClause>& inc = prompt.metadata.include;

  if (prompt.metadata.tag == "position" && inc.size() == 2 && inc[1].position) {
    // inc[1] (A) stands in `relation` to inc[0] (B): A in the outer third on
    // its side, B mirrored on the other, both centred on the other axis.
    const std::string& rel = inc[1].position->first;
    const int side =
        static_cast<int>(rng.Between(min_side, std::max(min_side, s / 3)));
    const int reach =
        std::max(0, static_cast<int>(std::floor(s / 3.0 - side / 2.0)) - 1);
    // A's offset from its edge
    const int near = static_cast<int>(rng.Between(0, reach));
    const int far = static_cast<int>(
        rng.Between(0, reach));  // B's offset from the other edge
    const int mid_a = (s - side) / 2 + static_cast<int>(rng.Between(-1, 1));
    const int mid_b = (s - side) / 2 + static_cast<int>(rng.Between(-1, 1));
    const bool horizontal = rel == "left of" || rel == "right of";
    // A at the low-coordinate edge
    const bool a_first = rel == "left of" || rel == "above";
    const int a_pos = a_first ? near : s - side - near;
    const int b_pos = a_first ? s - side - far : far;
    auto box = [&](int along, int across) {
      return horizontal ? Box{along, across, along + side, across + side}
                        : Box{across, along, across + side, along + side};
    };
    const std::vector<int> colors = PickColors(rng, {-1, -1});
    scene.shapes.push_back({static_cast<ShapeKind>(KindIndex(inc[1].cls)),
                            static_cast<ColorName>(colors[0]),
                            box(a_pos, mid_a)});
    scene.shapes.push_back({static_cast<ShapeKind>(KindIndex(inc[0].cls)),
                            static_cast<ColorName>(colors[1]),
                            box(b_pos, mid_b)});
    return scene;
  }

  // Everything else: one shape per quadrant cell, cells in random order.
  std::vector<std::pair<int, int>> shapes;  // (kind, required colour or -1)
  for (const GenEvalClause& c : inc) {
    for (int i = 0; i < c.count; ++i) {
      shapes.push_back({KindIndex(c.cls), c.color ? ColorIndex(*c.color) : -1});
    }
  }
  shapes.resize(std::min<size_t>(shapes.size(), 4));
  std::vector<int> required;
  for (const auto& sh : shapes) required.push_back(sh.second);
  const std::vector<int> colors = PickColors(rng, required);
  int cells[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(cells[i], cells[rng.Below(i + 1)]);
  const int cell = s / 2;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const int side = static_cast<int>(rng.Between(
        min_side, std::max(min_side, std::min(max_side, cell - 2))));
    const int cx = (cells[i] % 2) * cell, cy = (cells[i] / 2) * cell;
    const int slack = std::max(1, cell - 1 - side);
    const int x0 = cx + static_cast<int>(rng.Between(1, slack));
    const int y0 = cy + static_cast<int>(rng.Between(1, slack));
    scene.shapes.push_back({static_cast<ShapeKind>(shapes[i].first),
                            static_cast<ColorName>(colors[i]),
                            Box{x0, y0, x0 + side, y0 + side}});
  }
  return scene;
}

ShapesEvalImageScore ScoreShapesEvalImage(const ShapesEvalPrompt& prompt,
                                          const std::vector<uint8_t>& rgb,
                                          int width, int height,
                                          const ShapesDetector& detector,
                                          const GenEvalOptions& options) {
  ShapesEvalImageScore out;
  out.detections = detector.Detect(rgb, width, height);
  const GenEvalDetections kept = FilterGenEvalDetections(
      ToGenEvalDetections(out.detections), prompt.metadata.tag, options);
  const GenEvalImageResult r =
      EvaluateGenEvalImage(prompt.metadata, kept, options);
  out.correct = r.correct;
  out.reason = r.reason;
  return out;
}

}  // namespace reca
