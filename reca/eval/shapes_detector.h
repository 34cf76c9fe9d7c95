// A programmatic object detector for shapes-world images (reca/shapes_world.h),
// standing in for GenEval's Mask2Former + CLIP colour classifier: it returns
// per object a shape kind (the "class"), a box, a confidence and a colour.
//
// Method: the background is the shapes-world background most pixels are
// near (its measured mean colour). Every pixel is read as a mix of that
// background and one of the ten GenEval colours of the world, p ~ bg +
// t (c - bg): it belongs to the colour c it is closest to such a mix of, when
// it is at least half c (t >= 0.5: a blurred edge's half-way contour is the
// edge) and within max_color_distance (RGB) of the mix; otherwise to nothing.
// 4-connected components of one colour that are big enough, not
// background-sized and square enough are candidates; each is classified by
// fitting all five shape templates, rendered by ShapesWorld itself (crisp,
// and with soft 3x3-blurred edges), over boxes within one pixel of the
// component's extent, to its coverage map (how much of its colour each pixel
// holds, ramped so that values under 0.25 count 0 and over 0.75 count 1): the
// best soft IoU wins. The detection's box is the best template's box; its
// confidence is
//   shape fit x (1 - 0.5 (mean residual / max_color_distance)^2),
// 1.0 for a clean rendering, ~0.96 under +-20 per-channel pixel noise or
// after a 3x3 blur (median). Thread-safe (const, stateless).
#ifndef RECA_EVAL_SHAPES_DETECTOR_H_
#define RECA_EVAL_SHAPES_DETECTOR_H_

#include <cstdint>
#include <vector>

#include "reca/eval/geneval_rules.h"
#include "reca/shapes_world.h"

namespace reca {

struct ShapesDetectorOptions {
  // farther from every reference colour: unassigned
  double max_color_distance = 60;
  // Components whose longer box side is below min_side_fraction x image size,
  // or whose area is below min_area_fraction x image area, are specks; those
  // with a side above max_side_fraction x image size are background-like.
  // The world draws sides of 0.25..0.40 x image size; the minimum is three
  // quarters of its smallest shape: side 0.75 x 0.25, and the area of a
  // triangle (half its box) of that side.
  double min_side_fraction = 0.1875;
  double min_area_fraction = 0.5 * 0.1875 * 0.1875;
  double max_side_fraction = 0.6;
  // The world's shapes have square boxes: a fitted box with a shorter side
  // below min_aspect x its longer side is no shape of this world.
  double min_aspect = 0.6;
};

struct ShapeDetection {
  ShapeKind kind = ShapeKind::kSquare;
  ColorName color = ColorName::kRed;
  Box box{};              // the fitted template's box, [x0, x1) x [y0, y1)
  double confidence = 0;  // in [0, 1]
  double shape_fit = 0;   // mask IoU with the best template
  // mean RGB distance of the pixels to their background/colour mix
  double color_distance = 0;
  int area = 0;  // pixels in the component
};

class ShapesDetector {
 public:
  explicit ShapesDetector(ShapesDetectorOptions options = {})
      : options_(options) {}

  // Detections in `rgb` (HWC uint8, width x height x 3), most confident
  // first. A wrong buffer size yields no detections.
  std::vector<ShapeDetection> Detect(const std::vector<uint8_t>& rgb, int width,
                                     int height) const;

  const ShapesDetectorOptions& options() const { return options_; }

 private:
  ShapesDetectorOptions options_;
};

// The detections in GenEval's form: class = shape kind name ("circle", ...),
// box [x0, y0, x1, y1], score = confidence, colour = colour name.
GenEvalDetections ToGenEvalDetections(
    const std::vector<ShapeDetection>& detections);

}  // namespace reca

#endif  // RECA_EVAL_SHAPES_DETECTOR_H_
