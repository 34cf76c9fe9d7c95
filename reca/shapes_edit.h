// Exact image-editing pairs over the shapes world (reca/shapes_world.h): a
// source scene, an instruction, and the target scene that is the source with
// exactly the described change applied, with metadata naming what changed.
//
// Categories follow ImgEdit's taxonomy where it makes sense for shapes:
//   add         a new shape of a kind and colour at a position
//   remove      one shape goes (the source has >= 2 shapes)
//   replace     a shape's kind changes; colour and box stay
//   adjust      a shape's colour changes (to one no other shape has)
//   move        a shape's box moves to another 3x3 grid cell (same size)
//   background  the background changes to another world background
//   compose     two of add/remove/replace/adjust/move, on different shapes,
//               in one instruction ("... and ...")
//   extract     only the named shape stays, at its place, on the same plain
//               background (the source has >= 2 shapes)
// Invariants: every shape the instruction does not touch is byte-identical
// (kind, colour, box) in the target, in the same relative order; shapes stay
// disjoint (a one-pixel gap, as the world draws them) with distinct colours;
// 1..4 shapes. Pair `index` of options `o` is a pure function of (o, index):
// its category is index % kNumEditCategories (so any run of 8 consecutive
// indices covers every category once); the source is scene `index` of the
// world with seed o.seed, and when the edit is impossible there (e.g. add to
// a full scene, remove from a one-shape scene) the draw is retried with the
// scene of a derived seed (attempt a: SplitMix64(seed + a)), deterministically.
//
// Instructions come in two phrasings:
//   dense   names every attribute of every shape it refers to and of the
//           result: "change the red circle at the top left to blue ."
//   sparse  refers to a shape by its kind alone when no other shape of the
//           source (nor one the instruction adds) has that kind, else by
//           colour and kind (colours are unique in a scene); positions of
//           existing shapes are dropped; what the edit produces is kept
//           (new colour, new kind, new place): "make the circle blue ."
//           An add keeps every attribute (the new shape is not in the
//           source, so nothing can be dropped without leaving it open).
// Words come from the world's captions plus the edit verbs and the three
// background names (grey, slate, beige). Thread-safe (pure functions).
#ifndef RECA_SHAPES_EDIT_H_
#define RECA_SHAPES_EDIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "reca/shapes_world.h"

namespace reca {

enum class EditCategory {
  kAdd,
  kRemove,
  kReplace,
  kAdjust,
  kMove,
  kBackground,
  kCompose,
  kExtract
};
inline constexpr int kNumEditCategories = 8;

// "add", "remove", "replace", "adjust", "move", "background", "compose",
// "extract".
const char* EditCategoryName(EditCategory c);
// The inverse; false for an unknown name.
bool ParseEditCategory(const std::string& name, EditCategory* out);

// The world's three backgrounds and their names ("grey", "slate", "beige");
// a background that is none of them is "plain".
std::string BackgroundName(Rgb background);

// One atomic change (a compose pair has two).
struct ShapeEdit {
  EditCategory category = EditCategory::kAdd;  // never kCompose
  // The shape of the source it changes (-1: add, background); for extract,
  // the shape that stays.
  int source_index = -1;
  // Where the result is in the target (-1: remove, background).
  int target_index = -1;
  ShapeInstance before{};  // valid when source_index >= 0
  ShapeInstance after{};   // valid when target_index >= 0
  Rgb background_before{}, background_after{};  // background only
  std::string dense, sparse;  // this change's clause, without the final " ."
};

struct EditPair {
  uint64_t index = 0;
  EditCategory category = EditCategory::kAdd;
  std::string dense_instruction;   // ends with " ."
  std::string sparse_instruction;  // ends with " ."
  Scene source, target;
  std::vector<ShapeEdit> edits;  // one, two for compose
  // Per source shape: its index in the target, -1 when it is gone.
  std::vector<int> target_of_source;
  // Per source shape: named by the instruction (changed, removed, or removed
  // by an extract); the others are preserved exactly.
  std::vector<bool> touched_source;
  // Per target shape: added or changed by the instruction.
  std::vector<bool> touched_target;
  // Per target shape: the instruction fixes only its grid cell (added or
  // moved), not its exact box.
  std::vector<bool> cell_only_target;
  bool background_changed = false;

  // Boxes of the touched source and target shapes: outside them (and, unless
  // background_changed, everywhere) source and target renders are equal.
  std::vector<Box> TouchedBoxes() const;
};

struct ShapesEditOptions {
  uint64_t seed = 0;
  int image_size = 32;
  int min_shapes = 1;  // of the source scenes, as ShapesWorldOptions
  int max_shapes = 4;
};

// Pair `index` (category index % kNumEditCategories).
EditPair EditPairAt(const ShapesEditOptions& options, uint64_t index);
// Pair `index` with the category forced (same source draw otherwise).
EditPair EditPairAt(const ShapesEditOptions& options, uint64_t index,
                    EditCategory category);

// Fixes the evaluation set forever (independent of any run's seed).
inline constexpr uint64_t kShapesEditSeed = 0x5ed17e7a1ull;
inline constexpr int kDefaultShapesEditPairsPerCategory = 25;

// The fixed evaluation set: pairs 0 .. 8 x pairs_per_category - 1 of
// EditPairAt({kShapesEditSeed, image_size}) (categories interleaved, every
// category pairs_per_category times). The first k pairs of every category are
// the same for every pairs_per_category >= k.
std::vector<EditPair> ShapesEditPairs(
    int pairs_per_category = kDefaultShapesEditPairsPerCategory, int image_size = 32);

}  // namespace reca

#endif  // RECA_SHAPES_EDIT_H_
