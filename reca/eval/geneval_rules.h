// GenEval's rule engine (djghosh13/geneval, evaluation/evaluate_images.py and
// summary_scores.py), reimplemented: given a prompt's metadata and an image's
// detections, decide whether the image is correct, then aggregate per tag and
// overall exactly as upstream does. Torch-free; thread-safe (pure functions).
//
// Upstream's rules, which this file follows:
//  * Detections per class are sorted by score, descending, as upstream's
//    np.argsort(scores)[::-1] orders them (ties included: see below), kept
//    when score > threshold (0.3; 0.9 when the prompt's tag is "counting"),
//    capped at max_objects (16) per class, then greedily de-duplicated: a
//    detection goes when its IoU with a kept one is not < max_overlap (1.0 =
//    off, the default).
//  * `include` clauses are ANDed. A clause {class, count} takes the `count`
//    most confident detections of its class; fewer is a failure. With a
//    `color`, at least `count` of those must carry that colour. With a
//    `position` [relation, group], every one of them must stand in `relation`
//    to every object the referenced earlier clause matched (a failed clause
//    matches nothing, which fails the position check).
//  * `exclude` clauses are ORed: `count` or more detections of the class fail.
//  * Relative position from box centres: per axis the offset shrinks by a
//    dead zone of position_threshold (0.1) x the sum of the two boxes' extents
//    on that axis; offsets inside it on both axes (< 1e-3) mean no relation.
//    The shrunk offset divided by the unshrunk offset's length gives (dx, dy);
//    dx < -0.5 "left of", dx > 0.5 "right of", dy < -0.5 "above", dy > 0.5
//    "below" (image y grows downwards).
//  * Per tag: the fraction of correct images; overall: the mean of the tags'
//    fractions (tags in order of first appearance).
//
// Upstream's arithmetic, which this file also follows, so that the verdict is
// upstream's at the borders too. Upstream's boxes and scores are the float32
// arrays mmdet returns, and its environment.yml pins numpy 1.23.1, so:
//  * Scores and box coordinates are rounded to float32 first (a sidecar
//    written from upstream's arrays round-trips exactly).
//  * The thresholds compare in float32: `scores > 0.3` on a float32 array
//    casts the Python float to float32, so a score of exactly float32(0.3)
//    is not above it.
//  * relative_position is float32 throughout: centres (x0 + x1) / 2, extents
//    |x1 - x0|, the dead zone float32(position_threshold) x (extent sum), the
//    1e-3 test against float32(1e-3), the offset's length
//    sqrt(ox*ox + oy*oy) (numpy's float32 dot: each square rounded, then the
//    sum; no fused multiply-add, see the build's -ffp-contract=off), and the
//    division; in that order.
//  * compute_iou subtracts float32 coordinates (float32 scalars), but numpy
//    1.x promotes the `+ 1` (a Python int) and everything after it to
//    float64; the IoU compares with max_overlap in float64.
//  * Ties: np.argsort's default kind is numpy's introsort (quicksort with a
//    median of three, insertion sort for spans of at most 16, heapsort past
//    a depth of 2*floor(log2 n)); it is not stable, and `[::-1]` then
//    reverses it. This file runs the same algorithm, so tied detections come
//    out in numpy's order for every length: for at most 16 detections of a
//    class the insertion sort is stable, so ties come out in reverse input
//    order. (numpy >= 1.25 can dispatch argsort to SIMD sorts on AVX-512
//    machines, whose tie order differs; upstream's pinned 1.23.1 has none.)
#ifndef RECA_EVAL_GENEVAL_RULES_H_
#define RECA_EVAL_GENEVAL_RULES_H_

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "reca/status.h"

namespace reca {

// GenEval's ten colour names, in upstream's order.
const std::vector<std::string>& GenEvalColors();

// One clause of a prompt's metadata.
struct GenEvalClause {
  std::string cls;  // "class" upstream
  int count = 1;
  std::optional<std::string> color;
  // [relation, index of an earlier include clause]; relation is one of
  // "left of", "right of", "above", "below".
  std::optional<std::pair<std::string, int>> position;
};

// One line of upstream's prompts/evaluation_metadata.jsonl.
struct GenEvalMetadata {
  // single_object, two_object, counting, colors, position, color_attr
  std::string tag;
  std::string prompt;  // the generation prompt
  std::vector<GenEvalClause> include;
  std::vector<GenEvalClause> exclude;
};

// One detected object: a box [x0, y0, x1, y1] in pixels, the detector's
// score, and the colour upstream's CLIP colour classifier assigns to its crop
// (one of GenEvalColors(); empty when unknown, which matches no colour). The
// rules see the box and score rounded to float32, as upstream's are.
struct GenEvalDetection {
  std::array<double, 4> box{};
  double score = 0;
  std::string color;
};

// Detections of one image by class name.
using GenEvalDetections = std::map<std::string, std::vector<GenEvalDetection>>;

// Upstream's --options with their defaults (reca-eval --geneval_threshold,
// --geneval_counting_threshold, --geneval_max_objects, --geneval_max_overlap,
// --geneval_position_threshold).
struct GenEvalOptions {
  double threshold = 0.3;  // detection score threshold (score > threshold)
  double counting_threshold = 0.9;  // the same for tag "counting"
  int max_objects = 16;             // per class, after thresholding
  double max_overlap = 1.0;         // NMS IoU; 1.0 keeps everything
  // the dead zone, as a fraction of box extents
  double position_threshold = 0.1;
};

// OK, or INVALID_ARGUMENT naming reca-eval's flag for the first value outside
// what upstream's rules can mean: the thresholds, max_overlap and
// position_threshold must be numbers in [0, 1], max_objects >= 0.
Status ValidateGenEvalOptions(const GenEvalOptions& options);

// The indices of `scores` in np.argsort(scores)[::-1]'s order (numpy 1.23's
// default introsort, see above): descending, ties in numpy's order.
std::vector<size_t> GenEvalScoreOrder(const std::vector<float>& scores);

// The relations of box `a` to box `b` ("left of", "right of", "above", "below";
// empty when their centres are within the dead zone on both axes), in
// upstream's float32 arithmetic.
std::set<std::string> GenEvalRelativePosition(const std::array<double, 4>& a,
                                              const std::array<double, 4>& b,
                                              double position_threshold = 0.1);

// Upstream's IoU, with its inclusive-pixel (+1) box areas (float32
// differences, the rest float64, as numpy 1.x computes it).
double GenEvalIou(const std::array<double, 4>& a,
                  const std::array<double, 4>& b);

// The detections upstream keeps for a prompt with tag `tag`: sorted,
// thresholded, capped and de-duplicated as described above; classes left
// empty are dropped. The kept detections are returned as given (unrounded).
GenEvalDetections FilterGenEvalDetections(const GenEvalDetections& raw,
                                          const std::string& tag,
                                          const GenEvalOptions& options = {});

struct GenEvalImageResult {
  bool correct = false;
  // why not, one line per failed clause (upstream's wording)
  std::string reason;
};

// Judges one image given its already filtered detections.
GenEvalImageResult EvaluateGenEvalImage(const GenEvalMetadata& metadata,
                                        const GenEvalDetections& filtered,
                                        const GenEvalOptions& options = {});

// One judged image, for aggregation.
struct GenEvalScoredImage {
  int prompt_index = 0;  // which prompt (metadata line) it was generated for
  std::string tag;
  bool correct = false;
};

struct GenEvalTagScore {
  std::string tag;
  double accuracy = 0;  // correct / images
  int correct = 0;
  int images = 0;
};

struct GenEvalSummary {
  std::vector<GenEvalTagScore> tags;  // in order of first appearance
  double overall = 0;                 // mean of the tags' accuracies
  int images = 0;
  int prompts = 0;             // distinct prompt indices
  double correct_images = 0;   // fraction of all images correct
  double correct_prompts = 0;  // fraction of prompts with any correct image
};

// Upstream's summary_scores.py. Empty input: all zero.
GenEvalSummary SummarizeGenEval(const std::vector<GenEvalScoredImage>& images);

// Parses upstream's evaluation_metadata.jsonl (one JSON object per line;
// blank lines skipped). Errors are InvalidArgument naming the line.
StatusOr<std::vector<GenEvalMetadata>> ParseGenEvalMetadataJsonl(
    const std::string& text);
// One metadata object as JSON text (upstream's field names).
std::string GenEvalMetadataToJson(const GenEvalMetadata& metadata);

// The detector sidecar: the detections upstream's Mask2Former + CLIP pipeline
// produced for each generated image, as one JSON document:
//
//   {"images": [
//     {"filename": "00012/samples/0003.png",   // upstream's
//     <prompt>/samples/<n>.png layout
//      "prompt_index": 12,                      // optional: else the
//      filename's leading digits "detections": {                          //
//      class -> objects, any order
//        "dog": [{"box": [x0, y0, x1, y1], "score": 0.97, "color": "brown"},
//        ...],
//        ...}},
//     ...]}
//
// A bare top-level array of the image objects is accepted too. `color` is
// optional (empty: unknown). Boxes are in pixels. Scores are the raw detector
// scores: thresholds apply in FilterGenEvalDetections, not in the sidecar.
struct GenEvalSidecarImage {
  std::string filename;
  int prompt_index = 0;
  GenEvalDetections detections;
};
StatusOr<std::vector<GenEvalSidecarImage>> ParseGenEvalSidecar(
    const std::string& json_text);

// Per-image results (upstream's results.jsonl fields: filename, tag, prompt,
// correct, reason) and the summary of a sidecar scored against metadata.
struct GenEvalRun {
  struct Row {
    std::string filename;
    int prompt_index = 0;
    std::string tag, prompt;
    GenEvalImageResult result;
  };
  std::vector<Row> rows;
  GenEvalSummary summary;
};
// Scores every sidecar image against metadata[prompt_index]; an index out of
// range is InvalidArgument.
StatusOr<GenEvalRun> ScoreGenEvalSidecar(
    const std::vector<GenEvalMetadata>& metadata,
    const std::vector<GenEvalSidecarImage>& images,
    const GenEvalOptions& options = {});

}  // namespace reca

#endif  // RECA_EVAL_GENEVAL_RULES_H_
