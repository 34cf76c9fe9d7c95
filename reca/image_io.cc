#include "reca/image_io.h"

#include <algorithm>

#include "reca/file_util.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include "stb_image_write.h"

namespace reca {
namespace {

void AppendBytes(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
}

}  // namespace

StatusOr<std::string> EncodePng(const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return InvalidArgumentError("EncodePng: pixel buffer does not match width x height x 3");
  }
  std::string out;
  if (!stbi_write_png_to_func(&AppendBytes, &out, image.width, image.height, 3,
                              image.pixels.data(), image.width * 3)) {
    return InternalError("EncodePng: stb_image_write failed");
  }
  return out;
}

Status WritePngGrid(const std::string& path, const std::vector<std::vector<RgbImage>>& rows,
                    int scale, int gap) {
  if (rows.empty() || rows[0].empty()) return InvalidArgumentError("WritePngGrid: no images for " + path);
  const int w = rows[0][0].width, h = rows[0][0].height;
  size_t cols = 0;
  for (const auto& r : rows) {
    cols = std::max(cols, r.size());
    for (const RgbImage& im : r) {
      if (im.width != w || im.height != h) {
        return InvalidArgumentError("WritePngGrid: images of different sizes for " + path);
      }
    }
  }
  RgbImage grid;
  grid.width = static_cast<int>(cols) * (w * scale + gap) + gap;
  grid.height = static_cast<int>(rows.size()) * (h * scale + gap) + gap;
  grid.pixels.assign(static_cast<size_t>(grid.width) * grid.height * 3, 255);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const RgbImage& im = rows[r][c];
      const int ox = gap + static_cast<int>(c) * (w * scale + gap);
      const int oy = gap + static_cast<int>(r) * (h * scale + gap);
      for (int y = 0; y < h * scale; ++y) {
        for (int x = 0; x < w * scale; ++x) {
          const uint8_t* src = &im.pixels[(static_cast<size_t>(y / scale) * w + x / scale) * 3];
          uint8_t* dst = &grid.pixels[(static_cast<size_t>(oy + y) * grid.width + ox + x) * 3];
          std::copy(src, src + 3, dst);
        }
      }
    }
  }
  RECA_ASSIGN_OR_RETURN(std::string png, EncodePng(grid));
  return WriteFileAtomic(path, png);
}

}  // namespace reca
