#include "reca/eval/image_metrics.h"

#include <cmath>
#include <limits>
#include <string>

namespace reca {
namespace {

constexpr int kWindow = 11;
constexpr double kSigma = 1.5;
constexpr double kK1 = 0.01, kK2 = 0.03;

Status CheckSizes(size_t a, size_t b, ImageShape s) {
  if (s.height <= 0 || s.width <= 0 || s.channels <= 0) {
    return InvalidArgumentError(
        "image metrics: bad shape " + std::to_string(s.height) + "x" +
        std::to_string(s.width) + "x" + std::to_string(s.channels));
  }
  if (a != s.size() || b != s.size()) {
    return InvalidArgumentError("image metrics: expected " +
                                std::to_string(s.size()) +
                                " values per image, got " + std::to_string(a) +
                                " and " + std::to_string(b));
  }
  return OkStatus();
}

template <typename T>
StatusOr<double> PsnrImpl(const std::vector<T>& a, const std::vector<T>& b,
                          ImageShape s, double range) {
  RECA_RETURN_IF_ERROR(CheckSizes(a.size(), b.size(), s));
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    se += d * d;
  }
  const double mse = se / static_cast<double>(a.size());
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(range * range / mse);
}

// Normalised 1-D Gaussian; the 2-D window is its outer product (separable).
std::vector<double> Gaussian1d() {
  std::vector<double> g(kWindow);
  double sum = 0;
  for (int i = 0; i < kWindow; ++i) {
    const double x = i - (kWindow - 1) / 2.0;
    g[i] = std::exp(-x * x / (2 * kSigma * kSigma));
    sum += g[i];
  }
  for (double& v : g) v /= sum;
  return g;
}

// Valid-mode separable filtering of an h x w plane.
std::vector<double> Filter(const std::vector<double>& in, int h, int w,
                           const std::vector<double>& g) {
  const int ow = w - kWindow + 1, oh = h - kWindow + 1;
  std::vector<double> rows(static_cast<size_t>(h) * ow);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < ow; ++x) {
      double s = 0;
      for (int k = 0; k < kWindow; ++k)
        s += g[k] * in[static_cast<size_t>(y) * w + x + k];
      rows[static_cast<size_t>(y) * ow + x] = s;
    }
  }
  std::vector<double> out(static_cast<size_t>(oh) * ow);
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      double s = 0;
      for (int k = 0; k < kWindow; ++k)
        s += g[k] * rows[static_cast<size_t>(y + k) * ow + x];
      out[static_cast<size_t>(y) * ow + x] = s;
    }
  }
  return out;
}

template <typename T>
StatusOr<double> SsimImpl(const std::vector<T>& a, const std::vector<T>& b,
                          ImageShape s, double range) {
  RECA_RETURN_IF_ERROR(CheckSizes(a.size(), b.size(), s));
  if (s.height < kWindow || s.width < kWindow) {
    return InvalidArgumentError("SSIM: images must be at least 11x11, got " +
                                std::to_string(s.height) + "x" +
                                std::to_string(s.width));
  }
  const double c1 = (kK1 * range) * (kK1 * range),
               c2 = (kK2 * range) * (kK2 * range);
  const std::vector<double> g = Gaussian1d();
  const size_t plane = static_cast<size_t>(s.height) * s.width;
  double total = 0;
  for (int c = 0; c < s.channels; ++c) {
    std::vector<double> x(plane), y(plane), xx(plane), yy(plane), xy(plane);
    for (size_t i = 0; i < plane; ++i) {
      x[i] = static_cast<double>(a[i * s.channels + c]);
      y[i] = static_cast<double>(b[i * s.channels + c]);
      xx[i] = x[i] * x[i];
      yy[i] = y[i] * y[i];
      xy[i] = x[i] * y[i];
    }
    const std::vector<double> mx = Filter(x, s.height, s.width, g),
                              my = Filter(y, s.height, s.width, g);
    const std::vector<double> sxx = Filter(xx, s.height, s.width, g),
                              syy = Filter(yy, s.height, s.width, g),
                              sxy = Filter(xy, s.height, s.width, g);
    double sum = 0;
    for (size_t i = 0; i < mx.size(); ++i) {
      const double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i],
                   cov = sxy[i] - mx[i] * my[i];
      sum += ((2 * mx[i] * my[i] + c1) * (2 * cov + c2)) /
             ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
    }
    total += sum / static_cast<double>(mx.size());
  }
  return total / s.channels;
}

}  // namespace

StatusOr<double> Psnr(const std::vector<uint8_t>& a,
                      const std::vector<uint8_t>& b, ImageShape shape) {
  return PsnrImpl(a, b, shape, 255.0);
}
StatusOr<double> Psnr(const std::vector<float>& a, const std::vector<float>& b,
                      ImageShape shape, double data_range) {
  return PsnrImpl(a, b, shape, data_range);
}
StatusOr<double> Ssim(const std::vector<uint8_t>& a,
                      const std::vector<uint8_t>& b, ImageShape shape) {
  return SsimImpl(a, b, shape, 255.0);
}
StatusOr<double> Ssim(const std::vector<float>& a, const std::vector<float>& b,
                      ImageShape shape, double data_range) {
  return SsimImpl(a, b, shape, data_range);
}

}  // namespace reca
