// Fuzzes the training image path: DecodeImage (PNG/JPEG sniffing, the pixel
// limit, stb_image) then ResizeImage with both policies, and EncodePng of the
// result (reca/image_io.h). The pixel limit is lower than the trainer's
// default so that iterations stay fast; the code path is the same.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "reca/data/dataset.h"
#include "reca/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kMaxPixels = 1 << 20;
  reca::StatusOr<reca::RgbImage> image = reca::DecodeImage(bytes, "fuzz", kMaxPixels);
  if (!image.ok()) return 0;
  if (image->width <= 0 || image->height <= 0 ||
      static_cast<int64_t>(image->width) * image->height > kMaxPixels ||
      image->pixels.size() != static_cast<size_t>(image->width) * image->height * 3) {
    std::abort();
  }
  const int side = 1 + static_cast<int>(size % 33);
  for (reca::ResizePolicy policy : {reca::ResizePolicy::kCenterCrop, reca::ResizePolicy::kStretch}) {
    const reca::RgbImage out = reca::ResizeImage(*image, side, policy);
    if (out.width != side || out.height != side || out.pixels.size() != static_cast<size_t>(side) * side * 3) {
      std::abort();
    }
    if (!reca::EncodePng(out).ok()) std::abort();
  }
  return 0;
}
