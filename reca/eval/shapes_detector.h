// A programmatic object detector for shapes-world images (reca/shapes_world.h),
// standing in for GenEval's Mask2Former + CLIP colour classifier: it returns
// per object a shape kind (the "class"), a box, a confidence and a colour.
//
// Method: every pixel goes to the nearest reference colour (the ten GenEval
// colours of the shapes world and its three backgrounds) when that is within
// max_color_distance (RGB Euclidean), else to nothing; 4-connected components
// of one object colour that are big enough (and not background-sized) become
// candidates; each is classified by fitting all five shape templates, rendered
// by ShapesWorld itself, over boxes within one pixel of the component's
// extent, keeping the best mask IoU. The detection's box is the best
// template's box; its confidence is
//   shape fit (mask IoU in [0, 1]) x (1 - 0.5 x mean colour distance / max_color_distance),
// 1.0 for a clean rendering. Works on generated (noisy) images too: far-off
// pixels are ignored and small specks dropped. Thread-safe (const, stateless).
#ifndef RECA_EVAL_SHAPES_DETECTOR_H_
#define RECA_EVAL_SHAPES_DETECTOR_H_

#include <cstdint>
#include <vector>

#include "reca/eval/geneval_rules.h"
#include "reca/shapes_world.h"

namespace reca {

struct ShapesDetectorOptions {
  double max_color_distance = 60;  // farther from every reference colour: unassigned
  // Components whose longer box side is below min_side_fraction x image size,
  // or whose area is below min_area_fraction x image area, are specks; those
  // with a side above max_side_fraction x image size are background-like.
  double min_side_fraction = 0.15;
  double min_area_fraction = 0.015;
  double max_side_fraction = 0.6;
};

struct ShapeDetection {
  ShapeKind kind = ShapeKind::kSquare;
  ColorName color = ColorName::kRed;
  Box box{};               // the fitted template's box, [x0, x1) x [y0, y1)
  double confidence = 0;   // in [0, 1]
  double shape_fit = 0;    // mask IoU with the best template
  double color_distance = 0;  // mean RGB distance of the pixels to `color`
  int area = 0;            // pixels in the component
};

class ShapesDetector {
 public:
  explicit ShapesDetector(ShapesDetectorOptions options = {}) : options_(options) {}

  // Detections in `rgb` (HWC uint8, width x height x 3), most confident
  // first. A wrong buffer size yields no detections.
  std::vector<ShapeDetection> Detect(const std::vector<uint8_t>& rgb, int width, int height) const;

  const ShapesDetectorOptions& options() const { return options_; }

 private:
  ShapesDetectorOptions options_;
};

// The detections in GenEval's form: class = shape kind name ("circle", ...),
// box [x0, y0, x1, y1], score = confidence, colour = colour name.
GenEvalDetections ToGenEvalDetections(const std::vector<ShapeDetection>& detections);

}  // namespace reca

#endif  // RECA_EVAL_SHAPES_DETECTOR_H_
