// ShapesEval: GenEval's six tags as text-to-image prompts over the shapes
// world, scored by the shapes detector under GenEval's exact rules.
//
// The prompt set is fixed (a constant seed; independent of any run's seed):
// every tag gets `prompts_per_tag` entries drawn from its enumeration of all
// distinct prompts (shuffled once); tags with fewer distinct prompts than
// that cycle through them again (single_object has only 5, one per kind), so
// every tag weighs the same and repeats just add samples. The prompts use
// the shapes world's caption words only (in the tokenizer's vocabulary):
//   single_object  "a circle ."
//   two_object     "a circle and a square ."
//   counting       "three shapes: a circle, a circle and a circle ."   (2..4)
//   colors         "a red circle ."
//   position       "a circle on the left and a square on the right ."
//                  (left of / right of / above: "at the top ... at the bottom"
//                  / below)
//   color_attr     "a red circle and a blue square ."
// with GenEval's metadata for each (counting excludes count + 1; position
// is [target, object @ (relation, 0)] as upstream). Thread-safe (pure).
#ifndef RECA_EVAL_SHAPES_EVAL_H_
#define RECA_EVAL_SHAPES_EVAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "reca/eval/geneval_rules.h"
#include "reca/eval/shapes_detector.h"
#include "reca/shapes_world.h"

namespace reca {

// GenEval's tags, in upstream's order.
const std::vector<std::string>& ShapesEvalTags();

struct ShapesEvalPrompt {
  int index = 0;      // position in the whole set
  int tag_index = 0;  // into ShapesEvalTags()
  // 0 .. prompts_per_tag - 1: with tag_index, a stable id
  int index_in_tag = 0;
  // the caption (the model's prompt is kT2IPrefix + " " + text)
  std::string text;
  GenEvalMetadata metadata;
};

inline constexpr int kDefaultShapesEvalPromptsPerTag = 50;

// The fixed set: tags in ShapesEvalTags() order, prompts_per_tag each. The
// first k entries of a tag are the same for every prompts_per_tag >= k.
std::vector<ShapesEvalPrompt> ShapesEvalPrompts(
    int prompts_per_tag = kDefaultShapesEvalPromptsPerTag);

// A scene that satisfies `prompt` (for sanity checks and reference images):
// shapes of distinct colours in disjoint boxes, positions as the text says.
// Deterministic in (prompt, image_size, variant); image_size >= 32.
Scene ShapesEvalReferenceScene(const ShapesEvalPrompt& prompt, int image_size,
                               uint64_t variant);

struct ShapesEvalImageScore {
  bool correct = false;
  std::string reason;                      // GenEval's reason when wrong
  std::vector<ShapeDetection> detections;  // everything the detector found
};

// Detects the shapes in `rgb` (HWC uint8) and judges them against the prompt's
// metadata with GenEval's rules (thresholds by the prompt's tag).
ShapesEvalImageScore ScoreShapesEvalImage(
    const ShapesEvalPrompt& prompt, const std::vector<uint8_t>& rgb, int width,
    int height, const ShapesDetector& detector = ShapesDetector(),
    const GenEvalOptions& options = {});

}  // namespace reca

#endif  // RECA_EVAL_SHAPES_EVAL_H_
