// ShapesEdit: image editing over the shapes world's exact edit pairs
// (reca/shapes_edit.h), scored by the shapes detector (shapes_detector.h).
// The editing counterpart of ShapesEval, and a programmatic stand-in for
// ImgEdit's judge criteria "instruction adherence" and "detail preservation".
//
// An edited image (HWC uint8, the pair's image size) is judged against the
// pair's metadata:
//  * carried out: every shape the instruction adds or changes is detected
//    with its new kind and colour, where the instruction puts it (an added or
//    moved shape anywhere in its named 3x3 grid cell; a replaced or recoloured
//    one at its box, centre within position_tolerance x image size, side
//    within size_tolerance); every shape it removes (remove, and the others
//    of an extract) is gone (no detection of its kind and colour left); and,
//    for a background edit, the background is the new one;
//  * preserved: every shape the instruction does not name is detected with
//    its kind, colour, centre (position_tolerance) and side (size_tolerance);
//    there is no other object; and, unless the edit is a background edit, the
//    background is unchanged (within background_tolerance, RGB distance, of
//    the median colour of the pixels outside every detection's box);
//  * correct = carried out and preserved (the accuracy reported).
// Detections below min_confidence (GenEval's 0.3) are ignored. An unmatched
// detection with the kind and colour of an unmatched changed shape counts
// against "carried out" (a misplaced edit), any other against "preserved".
//
// Masked PSNR compares the edited image with the target's render over the
// preserved region: the pixels outside every touched shape's box (source and
// target boxes) dilated by psnr_margin pixels; for a background edit, the
// pixels inside the untouched shapes' boxes. +infinity when they are equal
// (and when the region is empty); summaries cap each pair at 100 dB, as the
// recon suite does.
//
// Aggregation: per category, the fraction of its pairs that are correct (and
// that are carried out / preserved, and the mean capped masked PSNR);
// overall = the mean over the categories present of their accuracies (an
// unweighted mean over categories, as GenEval's overall is over tags; the
// fixed set has the same number of pairs in every category, so it is also
// the mean over pairs). Thread-safe (pure functions; the suite calls `edit`
// on the calling thread).
#ifndef RECA_EVAL_SHAPES_EDIT_EVAL_H_
#define RECA_EVAL_SHAPES_EDIT_EVAL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "reca/eval/shapes_detector.h"
#include "reca/shapes_edit.h"
#include "reca/status.h"

namespace reca {

inline constexpr const char* kShapesEditSuite = "shapes_edit";

struct ShapesEditScoreOptions {
  double min_confidence = 0.3;
  double position_tolerance = 0.08;  // x image size, per axis
  double size_tolerance = 0.2;       // x the expected side (at least 1 pixel)
  double background_tolerance = 20;  // RGB distance
  int psnr_margin = 2;               // pixels around the touched boxes
};

struct ShapesEditImageScore {
  bool carried_out = false;
  bool preserved = false;
  bool correct = false;
  double masked_psnr = 0;     // dB; +infinity for an exact match
  int64_t masked_pixels = 0;  // pixels in the preserved region
  std::vector<std::string> failures;       // why not, one line each
  std::vector<ShapeDetection> detections;  // everything the detector found
};

// The preserved region of `pair` (see above) as a row-major
// image_size x image_size mask.
std::vector<bool> ShapesEditPreservedMask(const EditPair& pair, int margin);

// Judges `rgb` (HWC uint8, width x height x 3) against `pair`. A size other
// than the pair's image size is InvalidArgument.
StatusOr<ShapesEditImageScore> ScoreShapesEditImage(
    const EditPair& pair, const std::vector<uint8_t>& rgb, int width,
    int height, const ShapesDetector& detector = ShapesDetector(),
    const ShapesEditScoreOptions& options = {});

// The fixed evaluation set: ShapesEditPairs (reca/shapes_edit.h).

struct ShapesEditCategoryScore {
  std::string category;  // EditCategoryName
  int pairs = 0;
  double accuracy = 0;  // fraction correct
  double carried_out = 0;
  double preserved = 0;
  double masked_psnr = 0;  // mean, each capped at 100 dB
};

struct ShapesEditSummary {
  double overall = 0;  // mean over categories of their accuracy
  double carried_out = 0, preserved = 0;  // means over categories
  double masked_psnr = 0;                 // mean over pairs (capped)
  int pairs = 0;
  // EditCategory order, the categories that have pairs
  std::vector<ShapesEditCategoryScore> categories;
};

// Aggregates per-pair scores (scores[i] judged pairs[i]). Sizes must match
// (InvalidArgument otherwise); no pairs: all zero.
StatusOr<ShapesEditSummary> SummarizeShapesEdit(
    const std::vector<EditPair>& pairs,
    const std::vector<ShapesEditImageScore>& scores);

// The model under test: the edited image (HWC uint8, image_size^2 x 3) for a
// pair, given its source render (ShapesWorld::Render(pair.source)). Prompt
// with pair.dense_instruction (the scorer checks the dense contract).
using ShapesEditFn = std::function<StatusOr<std::vector<uint8_t>>(
    const EditPair& pair, const std::vector<uint8_t>& source_rgb)>;

// Runs `edit` on every pair and scores the results. An error from `edit` is
// returned with the pair's index and category in front. `per_pair`, when
// given, receives every pair's score (in order).
StatusOr<ShapesEditSummary> RunShapesEditSuite(
    const std::vector<EditPair>& pairs, const ShapesEditFn& edit,
    const ShapesDetector& detector = ShapesDetector(),
    const ShapesEditScoreOptions& options = {},
    std::vector<ShapesEditImageScore>* per_pair = nullptr);

// For the evaluator's outputs (as shapes_eval.jsonl and scores.json):
// one pair's result as a JSON line {"index", "category", "instruction"
// (dense), "sparse_instruction", "correct", "carried_out", "preserved",
// "masked_psnr" (null when infinite), "failures": [...]}; and the suite
// object {"overall", "categories": {"add": accuracy, ...}, "carried_out",
// "preserved", "masked_psnr", "pairs"} (numbers the before/after report
// flattens as "categories.add", ...).
std::string ShapesEditResultJson(const EditPair& pair,
                                 const ShapesEditImageScore& score);
std::string ShapesEditSummaryJson(const ShapesEditSummary& summary);

}  // namespace reca

#endif  // RECA_EVAL_SHAPES_EDIT_EVAL_H_
