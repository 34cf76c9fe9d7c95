#include "reca/eval/image_metrics.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "reca/rng.h"

namespace reca {
namespace {

std::vector<uint8_t> RandomImage(ImageShape s, uint64_t seed, int lo, int hi) {
  Rng rng(seed);
  std::vector<uint8_t> px(s.size());
  for (uint8_t& v : px) v = static_cast<uint8_t>(rng.Between(lo, hi));
  return px;
}

TEST(PsnrTest, IdenticalIsInfinite) {
  const ImageShape s{16, 16, 3};
  const std::vector<uint8_t> a = RandomImage(s, 1, 0, 255);
  EXPECT_EQ(*Psnr(a, a, s), std::numeric_limits<double>::infinity());
}

TEST(PsnrTest, ConstantOffsetIsAnalytic) {
  // Every value off by 10: MSE = 100, PSNR = 10 log10(255^2 / 100) = 20
  // log10(25.5) = 28.1308 dB.
  const ImageShape s{16, 16, 3};
  std::vector<uint8_t> a = RandomImage(s, 2, 20, 200), b = a;
  for (uint8_t& v : b) v = static_cast<uint8_t>(v + 10);
  EXPECT_NEAR(*Psnr(a, b, s), 20 * std::log10(25.5), 1e-9);
  EXPECT_NEAR(*Psnr(a, b, s), 28.1308, 1e-4);
  // Float images in [0, 1] off by 0.1: 10 log10(1 / 0.01) = 20 dB.
  std::vector<float> fa(s.size(), 0.3f), fb(s.size(), 0.4f);
  EXPECT_NEAR(*Psnr(fa, fb, s), 20.0, 1e-4);
}

TEST(PsnrTest, SizeMismatchIsAnError) {
  EXPECT_FALSE(Psnr(std::vector<uint8_t>(10), std::vector<uint8_t>(12),
                    ImageShape{2, 2, 3})
                   .ok());
}

TEST(SsimTest, IdenticalIsOne) {
  const ImageShape s{32, 32, 3};
  const std::vector<uint8_t> a = RandomImage(s, 3, 0, 255);
  EXPECT_NEAR(*Ssim(a, a, s), 1.0, 1e-12);
}

TEST(SsimTest, ConstantImagesAreAnalytic) {
  // Flat images 100 vs 110: no variance, so SSIM = (2*100*110 + C1) /
  // (100^2 + 110^2 + C1) * (0 + C2) / (0 + C2) with C1 = (0.01*255)^2 = 6.5025:
  // 22006.5025 / 22106.5025 = 0.995476...
  const ImageShape s{12, 14, 3};
  std::vector<uint8_t> a(s.size(), 100), b(s.size(), 110);
  const double c1 = 6.5025;
  EXPECT_NEAR(*Ssim(a, b, s), (22000 + c1) / (22100 + c1), 1e-12);
}

TEST(SsimTest, MatchesADirectTwoDimensionalWindow) {
  // An independent, non-separable evaluation of the same definition on one
  // channel of 13x13 (3x3 window positions).
  const ImageShape s{13, 13, 1};
  const std::vector<uint8_t> a = RandomImage(s, 4, 0, 255),
                             b = RandomImage(s, 5, 0, 255);
  double w[11][11], wsum = 0;
  for (int i = 0; i < 11; ++i) {
    for (int j = 0; j < 11; ++j) {
      w[i][j] = std::exp(-((i - 5.0) * (i - 5.0) + (j - 5.0) * (j - 5.0)) /
                         (2 * 1.5 * 1.5));
      wsum += w[i][j];
    }
  }
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  double total = 0;
  for (int y0 = 0; y0 < 3; ++y0) {
    for (int x0 = 0; x0 < 3; ++x0) {
      double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
      for (int i = 0; i < 11; ++i) {
        for (int j = 0; j < 11; ++j) {
          const double wt = w[i][j] / wsum;
          const double x = a[(y0 + i) * 13 + x0 + j],
                       y = b[(y0 + i) * 13 + x0 + j];
          mx += wt * x, my += wt * y, xx += wt * x * x, yy += wt * y * y,
              xy += wt * x * y;
        }
      }
      const double vx = xx - mx * mx, vy = yy - my * my, cov = xy - mx * my;
      total += (2 * mx * my + c1) * (2 * cov + c2) /
               ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
  }
  EXPECT_NEAR(*Ssim(a, b, s), total / 9, 1e-10);
}

TEST(SsimTest, OrderedByDistortionAndSymmetric) {
  const ImageShape s{32, 32, 3};
  const std::vector<uint8_t> a = RandomImage(s, 6, 40, 215);
  std::vector<uint8_t> small = a, large = a;
  Rng rng(7);
  for (size_t i = 0; i < a.size(); ++i) {
    const int n = static_cast<int>(rng.Between(-40, 40));
    small[i] = static_cast<uint8_t>(a[i] + n / 8);
    large[i] = static_cast<uint8_t>(a[i] + n);
  }
  const double s_small = *Ssim(a, small, s), s_large = *Ssim(a, large, s);
  EXPECT_LT(s_small, 1.0);
  EXPECT_LT(s_large, s_small);
  EXPECT_GT(s_large, 0.0);
  EXPECT_NEAR(*Ssim(small, a, s), s_small, 1e-12);
  // Float form with data range 1 equals the uint8 form on v / 255.
  std::vector<float> fa(a.begin(), a.end()), fs(small.begin(), small.end());
  for (float& v : fa) v /= 255.0f;
  for (float& v : fs) v /= 255.0f;
  EXPECT_NEAR(*Ssim(fa, fs, s), s_small, 1e-5);
}

TEST(SsimTest, TooSmallIsAnError) {
  const ImageShape s{8, 8, 3};
  EXPECT_FALSE(
      Ssim(std::vector<uint8_t>(s.size()), std::vector<uint8_t>(s.size()), s)
          .ok());
}

}  // namespace
}  // namespace reca
