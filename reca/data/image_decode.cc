// DecodeImage and ResizeImage (reca/data/dataset.h).
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "reca/data/dataset.h"

// Every stb_image allocation goes through these: one larger than the decode
// in progress can need (DecodeImage sets the cap from the image's size) fails,
// and stb_image reports "outofmem", so a zlib bomb in a small PNG (IDAT data
// inflating far past the pixels it declares) cannot take gigabytes.
namespace reca {
namespace {
thread_local size_t g_stbi_alloc_cap = SIZE_MAX;
void* StbiMalloc(size_t n) { return n > g_stbi_alloc_cap ? nullptr : std::malloc(n); }
void* StbiRealloc(void* p, size_t n) { return n > g_stbi_alloc_cap ? nullptr : std::realloc(p, n); }
}  // namespace
}  // namespace reca
#define STBI_MALLOC(n) reca::StbiMalloc(n)
#define STBI_REALLOC(p, n) reca::StbiRealloc(p, n)
#define STBI_FREE(p) std::free(p)

// Static, PNG and JPEG only: this copy of stb_image is private to this file,
// so it cannot clash with another translation unit's (tests define their own).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#include "stb_image.h"

namespace reca {
namespace {

bool HasPrefix(const std::string& bytes, const unsigned char* magic, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0;
}

// How one axis maps source pixels to output pixels: output i is the weighted
// sum of source pixels first[i] .. first[i] + count[i] - 1.
struct AxisWeights {
  std::vector<int> first, count;
  std::vector<float> weights;    // concatenated, normalised per output
  std::vector<size_t> start;     // offset of output i's weights
};

// Output pixel i covers the source interval origin + [i, i + 1) * scale, where
// scale = src_len / out. Downscaling (scale >= 1) averages the source pixels
// by their coverage of that interval (a box filter); upscaling interpolates
// linearly between the two nearest source pixel centres. Source indices are
// clamped to [0, src_size).
AxisWeights MakeAxis(int src_size, double origin, double src_len, int out) {
  AxisWeights a;
  a.first.resize(out);
  a.count.resize(out);
  a.start.resize(out);
  const double scale = src_len / out;
  for (int i = 0; i < out; ++i) {
    a.start[i] = a.weights.size();
    if (scale >= 1.0) {
      const double lo = origin + i * scale, hi = origin + (i + 1) * scale;
      int j0 = static_cast<int>(std::floor(lo));
      int j1 = static_cast<int>(std::ceil(hi));  // exclusive
      j0 = std::max(j0, 0);
      j1 = std::min(j1, src_size);
      double total = 0;
      for (int j = j0; j < j1; ++j) {
        const double w = std::min<double>(hi, j + 1) - std::max<double>(lo, j);
        total += std::max(w, 0.0);
      }
      for (int j = j0; j < j1; ++j) {
        const double w = std::max(std::min<double>(hi, j + 1) - std::max<double>(lo, j), 0.0);
        a.weights.push_back(static_cast<float>(total > 0 ? w / total : 0.0));
      }
      a.first[i] = j0;
      a.count[i] = j1 - j0;
    } else {
      const double c = origin + (i + 0.5) * scale - 0.5;
      const int j = static_cast<int>(std::floor(c));
      const double t = c - j;
      const int j0 = std::clamp(j, 0, src_size - 1), j1 = std::clamp(j + 1, 0, src_size - 1);
      if (j0 == j1) {
        a.weights.push_back(1.0f);
        a.first[i] = j0;
        a.count[i] = 1;
      } else {
        a.weights.push_back(static_cast<float>(1.0 - t));
        a.weights.push_back(static_cast<float>(t));
        a.first[i] = j0;
        a.count[i] = 2;
      }
    }
  }
  return a;
}

// Resamples the source window [x0, x0 + w_len) x [y0, y0 + h_len) to out_w x
// out_h: a horizontal pass over the rows the vertical pass needs, then a
// vertical pass. Deterministic (fixed order of float operations).
RgbImage Resample(const RgbImage& src, double x0, double w_len, double y0, double h_len,
                  int out_w, int out_h) {
  const AxisWeights ax = MakeAxis(src.width, x0, w_len, out_w);
  const AxisWeights ay = MakeAxis(src.height, y0, h_len, out_h);
  int row_lo = src.height, row_hi = 0;
  for (int i = 0; i < out_h; ++i) {
    if (ay.count[i] == 0) continue;
    row_lo = std::min(row_lo, ay.first[i]);
    row_hi = std::max(row_hi, ay.first[i] + ay.count[i]);
  }
  std::vector<float> rows(static_cast<size_t>(std::max(row_hi - row_lo, 0)) * out_w * 3, 0.0f);
  for (int y = row_lo; y < row_hi; ++y) {
    const uint8_t* in = &src.pixels[static_cast<size_t>(y) * src.width * 3];
    float* out = &rows[static_cast<size_t>(y - row_lo) * out_w * 3];
    for (int i = 0; i < out_w; ++i) {
      float acc[3] = {0, 0, 0};
      const float* w = &ax.weights[ax.start[i]];
      for (int k = 0; k < ax.count[i]; ++k) {
        const uint8_t* p = in + static_cast<size_t>(ax.first[i] + k) * 3;
        for (int c = 0; c < 3; ++c) acc[c] += w[k] * p[c];
      }
      for (int c = 0; c < 3; ++c) out[i * 3 + c] = acc[c];
    }
  }
  RgbImage dst;
  dst.width = out_w;
  dst.height = out_h;
  dst.pixels.resize(static_cast<size_t>(out_w) * out_h * 3);
  for (int i = 0; i < out_h; ++i) {
    const float* w = &ay.weights[ay.start[i]];
    for (int x = 0; x < out_w; ++x) {
      float acc[3] = {0, 0, 0};
      for (int k = 0; k < ay.count[i]; ++k) {
        const float* p = &rows[(static_cast<size_t>(ay.first[i] + k - row_lo) * out_w + x) * 3];
        for (int c = 0; c < 3; ++c) acc[c] += w[k] * p[c];
      }
      for (int c = 0; c < 3; ++c) {
        const float v = std::round(acc[c]);
        dst.pixels[(static_cast<size_t>(i) * out_w + x) * 3 + c] =
            static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
      }
    }
  }
  return dst;
}

}  // namespace

StatusOr<RgbImage> DecodeImage(const std::string& bytes, const std::string& origin,
                               int64_t max_pixels) {
  static const unsigned char kPng[] = {0x89, 0x50, 0x4E, 0x47};
  static const unsigned char kJpeg[] = {0xFF, 0xD8, 0xFF};
  if (!HasPrefix(bytes, kPng, sizeof(kPng)) && !HasPrefix(bytes, kJpeg, sizeof(kJpeg))) {
    return InvalidArgumentError(origin + ": not a PNG or JPEG image");
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return InvalidArgumentError(origin + ": image file of " + std::to_string(bytes.size()) +
                                " bytes is too large");
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  auto corrupt = [&origin]() {
    const char* why = stbi_failure_reason();
    return DataLossError(origin + ": corrupt or truncated image (" +
                         std::string(why ? why : "unknown error") + ")");
  };
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) return corrupt();
  const int64_t pixels = static_cast<int64_t>(w) * h;
  if (pixels > max_pixels) {
    return InvalidArgumentError(origin + ": image of " + std::to_string(w) + "x" +
                                std::to_string(h) + " pixels is over the limit of " +
                                std::to_string(max_pixels) + " pixels");
  }
  // The largest buffer a genuine image of w x h needs: the compressed input
  // (PNG IDAT, doubled as it grows), or a plane of up to 8 bytes per pixel
  // (16-bit RGBA; JPEG components padded to whole MCUs), plus slack.
  const int64_t padded = (static_cast<int64_t>(w) + 32) * (static_cast<int64_t>(h) + 32);
  const int64_t cap = 2 * static_cast<int64_t>(len) + 16 * padded + (1 << 20);
  struct CapScope {
    explicit CapScope(int64_t c) { g_stbi_alloc_cap = static_cast<size_t>(c); }
    ~CapScope() { g_stbi_alloc_cap = SIZE_MAX; }
  } cap_scope(cap);
  stbi_uc* px = stbi_load_from_memory(data, len, &w, &h, &comp, 3);
  if (px == nullptr) return corrupt();
  RgbImage image;
  image.width = w;
  image.height = h;
  image.pixels.assign(px, px + static_cast<size_t>(w) * h * 3);
  stbi_image_free(px);
  return image;
}

RgbImage ResizeImage(const RgbImage& image, int size, ResizePolicy policy) {
  if (size <= 0 || image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return RgbImage{};
  }
  const int w = image.width, h = image.height;
  if (policy == ResizePolicy::kStretch) return Resample(image, 0, w, 0, h, size, size);
  // Centre crop: scale the shorter side to `size`; the longer side becomes
  // `scaled` output pixels, of which the middle `size` are kept. The crop
  // offset is rounded to whole output pixels (as torchvision does), so that an
  // image whose shorter side already is `size` is cropped, not resampled.
  const int shorter = std::min(w, h);
  const double src_per_out = static_cast<double>(shorter) / size;
  const double scaled = static_cast<double>(std::max(w, h)) / src_per_out;
  const double skip = std::floor((scaled - size) / 2.0 + 0.5) * src_per_out;
  const double side = shorter;
  if (w >= h) return Resample(image, skip, side, 0, side, size, size);
  return Resample(image, 0, side, skip, side, size, size);
}

}  // namespace reca
