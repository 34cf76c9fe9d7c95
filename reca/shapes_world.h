// The shapes world: a deterministic generator of small synthetic scenes with
// exact metadata, dense captions and sparse captions.
//
// Scene `index` of a world with seed `seed` is a pure function of
// (seed, index, image_size): any sample can be regenerated in isolation, which
// is what makes data order resumable and evaluation sets fixed. Shapes never
// overlap and have distinct colours within one scene. Thread-safe (stateless).
#ifndef RECA_SHAPES_WORLD_H_
#define RECA_SHAPES_WORLD_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace reca {

enum class ShapeKind { kCircle, kSquare, kTriangle, kDiamond, kCross };
inline constexpr int kNumShapeKinds = 5;

// GenEval's ten colour names, in GenEval's order.
enum class ColorName {
  kRed, kOrange, kYellow, kGreen, kBlue, kPurple, kPink, kBrown, kBlack, kWhite
};
inline constexpr int kNumColors = 10;

struct Rgb {
  uint8_t r, g, b;
};

const char* ShapeKindName(ShapeKind k);
const char* ColorNameString(ColorName c);
Rgb ColorValue(ColorName c);

// Pixel box, [x0, x1) x [y0, y1).
struct Box {
  int x0, y0, x1, y1;
  double cx() const { return 0.5 * (x0 + x1); }
  double cy() const { return 0.5 * (y0 + y1); }
};

struct ShapeInstance {
  ShapeKind kind;
  ColorName color;
  Box box;
};

struct Scene {
  int image_size = 32;
  Rgb background{128, 128, 128};
  std::vector<ShapeInstance> shapes;  // 1..4, disjoint boxes, distinct colours
};

struct ShapesWorldOptions {
  uint64_t seed = 0;
  int image_size = 32;
  int min_shapes = 1;
  int max_shapes = 4;
};

class ShapesWorld {
 public:
  explicit ShapesWorld(ShapesWorldOptions options);

  const ShapesWorldOptions& options() const { return options_; }
  Scene SceneAt(uint64_t index) const;

  // HWC, RGB, uint8; size image_size * image_size * 3.
  static std::vector<uint8_t> Render(const Scene& scene);

  // All attributes of all shapes: count, colour, kind and coarse position.
  static std::string DenseCaption(const Scene& scene);
  // A caption that drops attributes the way web captions do: some shapes go
  // unmentioned, colours and positions are often missing, counts are vague.
  // Deterministic in (scene, variant).
  static std::string SparseCaption(const Scene& scene, uint64_t variant);

  // "top left", "center", ... from the box centre on a 3x3 grid.
  static std::string PositionPhrase(const Box& box, int image_size);

 private:
  ShapesWorldOptions options_;
};

}  // namespace reca

#endif  // RECA_SHAPES_WORLD_H_
