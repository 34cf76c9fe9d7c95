// Full-reference image quality: PSNR and SSIM on HWC images (uint8 with a
// data range of 255, or float with a given data range). Torch-free;
// thread-safe (pure functions).
//
// SSIM follows Wang, Bovik, Sheikh & Simoncelli 2004: an 11x11 Gaussian window
// with sigma 1.5 (normalised to sum 1), K1 = 0.01, K2 = 0.03,
// C1 = (K1 L)^2, C2 = (K2 L)^2 with L the data range; local statistics only
// where the window fits entirely ("valid" filtering, as the reference ssim.m);
// the SSIM of an image is the mean of its map, averaged over channels.
#ifndef RECA_EVAL_IMAGE_METRICS_H_
#define RECA_EVAL_IMAGE_METRICS_H_

#include <cstdint>
#include <vector>

#include "reca/status.h"

namespace reca {

struct ImageShape {
  int height = 0, width = 0, channels = 3;
  size_t size() const { return static_cast<size_t>(height) * width * channels; }
};

// 10 log10(L^2 / MSE) over all pixels and channels; +infinity when the images
// are identical. Mismatched sizes are InvalidArgument.
StatusOr<double> Psnr(const std::vector<uint8_t>& a,
                      const std::vector<uint8_t>& b, ImageShape shape);
StatusOr<double> Psnr(const std::vector<float>& a, const std::vector<float>& b,
                      ImageShape shape, double data_range = 1.0);

// Mean SSIM in [-1, 1] (1 for identical images). Images smaller than the
// 11x11 window, or mismatched sizes, are InvalidArgument.
StatusOr<double> Ssim(const std::vector<uint8_t>& a,
                      const std::vector<uint8_t>& b, ImageShape shape);
StatusOr<double> Ssim(const std::vector<float>& a, const std::vector<float>& b,
                      ImageShape shape, double data_range = 1.0);

}  // namespace reca

#endif  // RECA_EVAL_IMAGE_METRICS_H_
