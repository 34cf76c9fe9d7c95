// PNG output for people: image grids (input vs reconstruction, samples).
// Torch-free; encoding by the vendored stb_image_write.
#ifndef RECA_IMAGE_IO_H_
#define RECA_IMAGE_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "reca/status.h"

namespace reca {

// One RGB image, HWC uint8.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// Encodes to PNG bytes.
StatusOr<std::string> EncodePng(const RgbImage& image);

// Lays `rows` out as a grid (each image scaled up by `scale`, nearest
// neighbour, separated by `gap` white pixels) and writes it atomically.
// Rows may have different lengths; images must share one size.
Status WritePngGrid(const std::string& path, const std::vector<std::vector<RgbImage>>& rows,
                    int scale = 4, int gap = 2);

}  // namespace reca

#endif  // RECA_IMAGE_IO_H_
