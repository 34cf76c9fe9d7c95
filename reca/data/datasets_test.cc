#include <stdlib.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reca/data/dataset.h"
#include "reca/data/tar_test_util.h"
#include "reca/file_util.h"
#include "reca/image_io.h"

// A private copy for JPEG (and grey/RGBA PNG) fixtures: reca/image_io.cc keeps its own static.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include "stb_image_write.h"

namespace reca {
namespace {

using tar_test::TarBuilder;
using ::testing::HasSubstr;

// ---- fixtures ---------------------------------------------------------------

RgbImage Solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage im{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (int i = 0; i < w * h; ++i) {
    im.pixels[3 * i] = r;
    im.pixels[3 * i + 1] = g;
    im.pixels[3 * i + 2] = b;
  }
  return im;
}

void SetPixel(RgbImage* im, int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  uint8_t* p = &im->pixels[(static_cast<size_t>(y) * im->width + x) * 3];
  p[0] = r, p[1] = g, p[2] = b;
}

std::vector<uint8_t> Pixel(const RgbImage& im, int x, int y) {
  const uint8_t* p = &im.pixels[(static_cast<size_t>(y) * im.width + x) * 3];
  return {p[0], p[1], p[2]};
}

// A deterministic, busy image (PNG compresses it poorly, so truncation hits the data).
RgbImage Noise(int w, int h, uint32_t seed) {
  RgbImage im = Solid(w, h, 0, 0, 0);
  for (uint8_t& v : im.pixels) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  return im;
}

std::string Png(const RgbImage& im) {
  StatusOr<std::string> png = EncodePng(im);
  EXPECT_TRUE(png.ok());
  return png.ok() ? *png : "";
}

void Append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
}

std::string Jpeg(const RgbImage& im, int quality = 95) {
  std::string out;
  EXPECT_TRUE(stbi_write_jpg_to_func(&Append, &out, im.width, im.height, 3, im.pixels.data(), quality));
  return out;
}

// A PNG with `channels` = 1 (grey) or 4 (RGBA) from raw bytes.
std::string PngChannels(int w, int h, int channels, const std::vector<uint8_t>& px) {
  std::string out;
  EXPECT_TRUE(stbi_write_png_to_func(&Append, &out, w, h, channels, px.data(), w * channels));
  return out;
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/datasets_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void Write(const std::string& rel, const std::string& bytes) {
    const std::string path = dir_ + "/" + rel;
    const size_t slash = path.find_last_of('/');
    ASSERT_TRUE(MakeDirs(path.substr(0, slash)).ok());
    ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
  }
  static DatasetOptions Options(int size = 8) {
    DatasetOptions o;
    o.image_size = size;
    return o;
  }
  std::string dir_;
};

// ---- DecodeImage ------------------------------------------------------------

TEST(DecodeImageTest, PngRoundTripIsExact) {
  const RgbImage im = Noise(7, 5, 1);
  StatusOr<RgbImage> back = DecodeImage(Png(im), "a.png");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->width, 7);
  EXPECT_EQ(back->height, 5);
  EXPECT_EQ(back->pixels, im.pixels);
}

TEST(DecodeImageTest, JpegRoundTripWithinTolerance) {
  RgbImage im = Solid(32, 24, 0, 0, 0);
  for (int y = 0; y < 24; ++y) {
    for (int x = 0; x < 32; ++x) SetPixel(&im, x, y, x * 8, y * 10, 128);
  }
  StatusOr<RgbImage> back = DecodeImage(Jpeg(im), "a.jpg");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->width, 32);
  ASSERT_EQ(back->height, 24);
  double total = 0;
  int worst = 0;
  for (size_t i = 0; i < im.pixels.size(); ++i) {
    const int d = std::abs(int{im.pixels[i]} - int{back->pixels[i]});
    total += d;
    worst = std::max(worst, d);
  }
  EXPECT_LT(total / im.pixels.size(), 3.0);
  EXPECT_LE(worst, 16);
}

TEST(DecodeImageTest, GreyAndAlphaBecomeRgb) {
  StatusOr<RgbImage> grey = DecodeImage(PngChannels(2, 2, 1, {77, 77, 77, 77}), "g.png");
  ASSERT_TRUE(grey.ok()) << grey.status();
  EXPECT_EQ(grey->pixels, std::vector<uint8_t>(12, 77));
  StatusOr<RgbImage> rgba = DecodeImage(PngChannels(1, 1, 4, {10, 20, 30, 40}), "a.png");
  ASSERT_TRUE(rgba.ok()) << rgba.status();
  EXPECT_EQ(rgba->pixels, (std::vector<uint8_t>{10, 20, 30}));
}

TEST(DecodeImageTest, NonImageBytesAreInvalidArgumentNamingTheOrigin) {
  for (const std::string& bytes : {std::string("GIF89a\x01\x00"), std::string(), std::string("\x89PN")}) {
    StatusOr<RgbImage> r = DecodeImage(bytes, "dir/x.gif");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "dir/x.gif: not a PNG or JPEG image");
  }
}

TEST(DecodeImageTest, TruncatedPngIsDataLossNamingTheOrigin) {
  const std::string png = Png(Noise(64, 64, 2));
  StatusOr<RgbImage> r = DecodeImage(png.substr(0, png.size() / 2), "t.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("t.png: corrupt or truncated image ("));
  // Only the signature: the header itself is missing.
  r = DecodeImage(png.substr(0, 8), "t.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(DecodeImageTest, RejectsImagesOverMaxPixels) {
  const std::string png = Png(Solid(10, 10, 1, 2, 3));
  StatusOr<RgbImage> r = DecodeImage(png, "big.png", /*max_pixels=*/99);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "big.png: image of 10x10 pixels is over the limit of 99 pixels");
  EXPECT_TRUE(DecodeImage(png, "big.png", /*max_pixels=*/100).ok());
}

// Regressions found by fuzz/image_fuzzer (inputs also in fuzz/corpus/image/regress-*).
TEST(DecodeImageTest, JpegHuffmanTableOfOver256CodesIsDataLoss) {
  // SOI, then a DHT segment whose 16 code-length counts are all 255 (4080
  // codes; at most 256 fit): stb_image wrote past its table.
  const std::string jpeg = std::string("\xFF\xD8\xFF\xC4\x00\x13\x00", 7) + std::string(16, '\xFF');
  StatusOr<RgbImage> r = DecodeImage(jpeg, "dht.jpg");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), testing::HasSubstr("dht.jpg: corrupt or truncated image"));
}

TEST(DecodeImageTest, PngChunkLengthPastTheEndIsDataLossWithoutAllocatingIt) {
  // An 8x8 paletted PNG (97 bytes) whose IDAT chunk claims 0x7a000019 bytes:
  // stb_image allocated ~2 GB for it before noticing the data was missing.
  const std::string png(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00\x00\x08"
      "\x01\x03\x00\x00\x00\xfe\xc1\x2c\xc8\x00\x00\x00\x03\x50\x4c\x54\x45\x00\x00\xa7\x00\x00\xda\x3d"
      "\x7a\x00\x00\x19\x49\x44\x41\x54\x78\x9c\x63\xa8\x67\xd8\x60\x70\x9f\xe1\x3d\xc3\x77\x86\xdf\x0c"
      "\x7f\x19\xfe\x01\x00\x32\xcd\x06\xfa\x45\x57\x94\x63\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60"
      "\x82",
      97);
  StatusOr<RgbImage> r = DecodeImage(png, "idat.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

// A 1x1 RGB PNG whose IDAT inflates to `inflated` bytes (a zlib bomb when
// that is far more than the 4 bytes the pixel needs).
std::string PngBomb(int inflated) {
  std::vector<unsigned char> zeros(static_cast<size_t>(inflated), 0);
  int zlen = 0;
  unsigned char* z = stbi_zlib_compress(zeros.data(), inflated, &zlen, 8);
  auto chunk = [](const char* type, const std::string& data) {
    std::string c;
    for (int i = 3; i >= 0; --i) c += static_cast<char>((data.size() >> (8 * i)) & 0xff);
    std::string body = std::string(type, 4) + data;
    const unsigned crc = stbiw__crc32(reinterpret_cast<unsigned char*>(body.data()), static_cast<int>(body.size()));
    c += body;
    for (int i = 3; i >= 0; --i) c += static_cast<char>((crc >> (8 * i)) & 0xff);
    return c;
  };
  const std::string ihdr("\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00", 13);
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) +
                    chunk("IDAT", std::string(reinterpret_cast<char*>(z), static_cast<size_t>(zlen))) +
                    chunk("IEND", "");
  STBIW_FREE(z);
  return png;
}

TEST(DecodeImageTest, PngZlibBombIsDataLossNotGigabytes) {
  // 4 bytes of real data (filter byte + RGB) decode; 8 MB for one pixel is a
  // bomb and fails at the allocation cap (~1 MB for a 1x1 image).
  ASSERT_TRUE(DecodeImage(PngBomb(4), "ok.png").ok());
  const std::string bomb = PngBomb(8 << 20);
  ASSERT_LT(bomb.size(), 128u << 10);  // stb_image_write compresses zeros ~100:1
  StatusOr<RgbImage> r = DecodeImage(bomb, "bomb.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), testing::HasSubstr("outofmem"));
}

// ---- ResizeImage ------------------------------------------------------------

TEST(ResizeImageTest, CenterCropOfAWideImageKeepsTheMiddle) {
  RgbImage im = Solid(96, 32, 255, 0, 0);  // thirds: red, green, blue
  for (int y = 0; y < 32; ++y) {
    for (int x = 32; x < 96; ++x) SetPixel(&im, x, y, 0, x < 64 ? 255 : 0, x < 64 ? 0 : 255);
  }
  const RgbImage out = ResizeImage(im, 16, ResizePolicy::kCenterCrop);
  ASSERT_EQ(out.width, 16);
  ASSERT_EQ(out.height, 16);
  EXPECT_EQ(out.pixels, Solid(16, 16, 0, 255, 0).pixels);
}

TEST(ResizeImageTest, CenterCropOfHalvesSplitsInTheMiddle) {
  RgbImage wide = Solid(64, 32, 255, 0, 0);  // left red, right blue
  for (int y = 0; y < 32; ++y) {
    for (int x = 32; x < 64; ++x) SetPixel(&wide, x, y, 0, 0, 255);
  }
  const RgbImage out = ResizeImage(wide, 16, ResizePolicy::kCenterCrop);
  ASSERT_EQ(out.width, 16);
  ASSERT_EQ(out.height, 16);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) {
      EXPECT_EQ(Pixel(out, x, y), x < 8 ? (std::vector<uint8_t>{255, 0, 0}) : (std::vector<uint8_t>{0, 0, 255}))
          << x << "," << y;
    }
  }
  RgbImage tall = Solid(32, 64, 255, 0, 0);  // top red, bottom blue
  for (int y = 32; y < 64; ++y) {
    for (int x = 0; x < 32; ++x) SetPixel(&tall, x, y, 0, 0, 255);
  }
  const RgbImage t = ResizeImage(tall, 16, ResizePolicy::kCenterCrop);
  EXPECT_EQ(Pixel(t, 5, 7), (std::vector<uint8_t>{255, 0, 0}));
  EXPECT_EQ(Pixel(t, 5, 8), (std::vector<uint8_t>{0, 0, 255}));
}

TEST(ResizeImageTest, StretchAveragesAreas) {
  RgbImage im = Solid(4, 4, 0, 0, 0);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) SetPixel(&im, x, y, 10 * (y * 4 + x), 0, 0);
  }
  const RgbImage out = ResizeImage(im, 2, ResizePolicy::kStretch);
  ASSERT_EQ(out.width, 2);
  // Block means of 0,10,40,50 = 25; 20,30,60,70 = 45; 80,90,120,130 = 105; 100,110,140,150 = 125.
  EXPECT_EQ(Pixel(out, 0, 0)[0], 25);
  EXPECT_EQ(Pixel(out, 1, 0)[0], 45);
  EXPECT_EQ(Pixel(out, 0, 1)[0], 105);
  EXPECT_EQ(Pixel(out, 1, 1)[0], 125);
  // 64x32 halves stretched: each output pixel covers 4x2 source pixels.
  RgbImage halves = Solid(64, 32, 255, 0, 0);
  for (int y = 0; y < 32; ++y) {
    for (int x = 32; x < 64; ++x) SetPixel(&halves, x, y, 0, 0, 255);
  }
  const RgbImage s = ResizeImage(halves, 16, ResizePolicy::kStretch);
  EXPECT_EQ(Pixel(s, 7, 3), (std::vector<uint8_t>{255, 0, 0}));
  EXPECT_EQ(Pixel(s, 8, 3), (std::vector<uint8_t>{0, 0, 255}));
}

TEST(ResizeImageTest, FractionalCoverageOnNonIntegerDownscale) {
  RgbImage im = Solid(3, 3, 0, 0, 0);
  SetPixel(&im, 1, 1, 90, 90, 90);  // each output covers 1.5 x 1.5 pixels: 1/9 of the centre
  const RgbImage out = ResizeImage(im, 2, ResizePolicy::kStretch);
  EXPECT_EQ(out.pixels, std::vector<uint8_t>(12, 10));
}

TEST(ResizeImageTest, UpscaleInterpolatesBilinearly) {
  RgbImage im = Solid(2, 2, 0, 0, 0);  // black column, white column
  SetPixel(&im, 1, 0, 255, 255, 255);
  SetPixel(&im, 1, 1, 255, 255, 255);
  for (ResizePolicy p : {ResizePolicy::kCenterCrop, ResizePolicy::kStretch}) {
    const RgbImage out = ResizeImage(im, 4, p);
    ASSERT_EQ(out.width, 4);
    ASSERT_EQ(out.height, 4);
    for (int y = 0; y < 4; ++y) {
      EXPECT_EQ(Pixel(out, 0, y)[0], 0);
      EXPECT_EQ(Pixel(out, 1, y)[0], 64);  // 0.75 * 0 + 0.25 * 255
      EXPECT_EQ(Pixel(out, 2, y)[0], 191);
      EXPECT_EQ(Pixel(out, 3, y)[0], 255);
    }
  }
  // Upscaling a wide image: 4x2 -> centre crop 2x2 -> 8x8.
  const RgbImage wide = Noise(4, 2, 3);
  const RgbImage crop = ResizeImage(wide, 8, ResizePolicy::kCenterCrop);
  EXPECT_EQ(crop.width, 8);
  EXPECT_EQ(crop.pixels.size(), 8u * 8 * 3);
}

TEST(ResizeImageTest, AlreadyTheSizeIsACopyOrAnIntegerCrop) {
  const RgbImage im = Noise(16, 16, 4);
  EXPECT_EQ(ResizeImage(im, 16, ResizePolicy::kCenterCrop).pixels, im.pixels);
  EXPECT_EQ(ResizeImage(im, 16, ResizePolicy::kStretch).pixels, im.pixels);
  const RgbImage wide = Noise(18, 16, 5);
  const RgbImage out = ResizeImage(wide, 16, ResizePolicy::kCenterCrop);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) ASSERT_EQ(Pixel(out, x, y), Pixel(wide, x + 1, y));
  }
}

// ---- OpenImageFolder ---------------------------------------------------------

using ImageFolderTest = TempDirTest;

TEST_F(ImageFolderTest, LoadsRelativeAndAbsolutePathsWithCaptions) {
  Write("img/sub/a.png", Png(Solid(16, 16, 255, 0, 0)));
  Write("elsewhere/b.jpg", Jpeg(Solid(16, 16, 0, 0, 255)));
  Write("img/m.jsonl",
        "{\"path\": \"sub/a.png\", \"caption\": \"a red square\"}\n"
        "\n"
        "# a comment\n"
        "{\"path\": \"" + dir_ + "/elsewhere/b.jpg\"}\n"
        "{\"path\": \"missing.png\", \"caption\": \"gone\"}\n");
  StatusOr<std::unique_ptr<Dataset>> ds = OpenImageFolder(dir_ + "/img/m.jsonl", Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 2);
  const std::vector<DataProblem> problems = (*ds)->open_problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].origin, dir_ + "/img/missing.png");
  EXPECT_THAT(problems[0].reason, HasSubstr("m.jsonl:5"));
  EXPECT_EQ((*ds)->Describe(),
            "image folder: 2 samples from " + dir_ + "/img/m.jsonl (1 listed files missing)");

  StatusOr<Sample> a = (*ds)->Load(0);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->caption, "a red square");
  EXPECT_EQ(a->origin, dir_ + "/img/sub/a.png");
  EXPECT_EQ(a->image.pixels, Solid(8, 8, 255, 0, 0).pixels);
  StatusOr<Sample> b = (*ds)->Load(1);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->caption, "");
  EXPECT_EQ(b->image.width, 8);
  EXPECT_NEAR(Pixel(b->image, 3, 3)[2], 255, 6);
  EXPECT_EQ((*ds)->Load(2).status().code(), StatusCode::kOutOfRange);
}

TEST_F(ImageFolderTest, MalformedLinesAreInvalidArgumentWithTheLine) {
  Write("a.png", Png(Solid(4, 4, 1, 1, 1)));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"path\": \"a.png\"}\n{\"path\": \"a.png\"\n", ":2: not valid JSON"},
      {"# c\n[1, 2]\n", ":2: expected a JSON object"},
      {"{\"path\": \"a.png\"}\n\n{\"caption\": \"no path\"}\n", ":3: \"path\" must be a non-empty string"},
      {"{\"path\": \"a.png\", \"caption\": 7}\n", ":1: \"caption\" must be a string"},
  };
  for (const auto& [text, expected] : cases) {
    Write("m.jsonl", text);
    StatusOr<std::unique_ptr<Dataset>> ds = OpenImageFolder(dir_ + "/m.jsonl", Options());
    ASSERT_FALSE(ds.ok()) << text;
    EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ds.status().message(), dir_ + "/m.jsonl" + expected);
  }
}

TEST_F(ImageFolderTest, MissingManifestIsNotFoundNamingIt) {
  StatusOr<std::unique_ptr<Dataset>> ds = OpenImageFolder(dir_ + "/nope.jsonl", Options());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr(dir_ + "/nope.jsonl"));
}

TEST_F(ImageFolderTest, NoUsableSampleIsInvalidArgumentNamingTheManifest) {
  Write("m.jsonl", "# only missing files\n{\"path\": \"gone.png\"}\n");
  StatusOr<std::unique_ptr<Dataset>> ds = OpenImageFolder(dir_ + "/m.jsonl", Options());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr(dir_ + "/m.jsonl"));
}

TEST_F(ImageFolderTest, BadFilesFailAtLoadNamingThePath) {
  const std::string png = Png(Noise(32, 32, 6));
  Write("trunc.png", png.substr(0, png.size() / 2));
  Write("text.png", "just text");
  Write("m.jsonl", "{\"path\": \"trunc.png\"}\n{\"path\": \"text.png\"}\n");
  StatusOr<std::unique_ptr<Dataset>> ds = OpenImageFolder(dir_ + "/m.jsonl", Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  StatusOr<Sample> t = (*ds)->Load(0);
  EXPECT_EQ(t.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(dir_ + "/trunc.png: corrupt or truncated"));
  StatusOr<Sample> x = (*ds)->Load(1);
  EXPECT_EQ(x.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(x.status().message(), dir_ + "/text.png: not a PNG or JPEG image");
}

// ---- OpenWebDataset ----------------------------------------------------------

class WebDatasetTest : public TempDirTest {
 protected:
  // shard-000.tar: s0/k0 (png + txt), k1 (jpg + json "caption");
  // shard-001.tar: k2 (PNG + json "text"), k3 (png only), k4 (txt only: skipped).
  void WriteTwoShards() {
    Write("shard-000.tar", TarBuilder()
                               .Dir("s0/")
                               .File("s0/k0.png", Png(Solid(8, 8, 255, 0, 0)))
                               .File("s0/k0.txt", "  caption zero \n")
                               .File("k1.jpg", Jpeg(Solid(16, 16, 0, 255, 0)))
                               .File("k1.json", "{\"caption\": \"one\", \"w\": 16}")
                               .Finish());
    Write("shard-001.tar", TarBuilder()
                               .File("k2.PNG", Png(Solid(8, 8, 0, 0, 255)))
                               .File("k2.json", "{\"text\": \"two\"}")
                               .File("k3.png", Png(Solid(4, 4, 9, 9, 9)))
                               .File("k4.txt", "orphan caption")
                               .Finish());
  }
  void ExpectTwoShards(const Dataset& ds) {
    ASSERT_EQ(ds.size(), 4);
    const std::vector<std::string> captions = {"caption zero", "one", "two", ""};
    const std::vector<std::string> origins = {dir_ + "/shard-000.tar:s0/k0", dir_ + "/shard-000.tar:k1",
                                              dir_ + "/shard-001.tar:k2", dir_ + "/shard-001.tar:k3"};
    for (int i = 0; i < 4; ++i) {
      StatusOr<Sample> s = ds.Load(i);
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_EQ(s->caption, captions[i]);
      EXPECT_EQ(s->origin, origins[i]);
      EXPECT_EQ(s->image.width, 8);
    }
    EXPECT_EQ(ds.Load(0)->image.pixels, Solid(8, 8, 255, 0, 0).pixels);
    EXPECT_EQ(ds.Load(3)->image.pixels, Solid(8, 8, 9, 9, 9).pixels);
    const std::vector<DataProblem> problems = ds.open_problems();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].origin, dir_ + "/shard-001.tar:k4");
    EXPECT_EQ(problems[0].reason, "no image member (.jpg, .jpeg or .png)");
  }
};

TEST_F(WebDatasetTest, TwoShardsByBraceRange) {
  WriteTwoShards();
  const std::string pattern = dir_ + "/shard-{000..001}.tar";
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({pattern}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectTwoShards(**ds);
  EXPECT_EQ((*ds)->Describe(),
            "webdataset: 2 shards, 4 samples (" + pattern + "), 1 problems at open");
}

TEST_F(WebDatasetTest, TwoShardsByGlobAndByList) {
  WriteTwoShards();
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({dir_ + "/shard-*.tar"}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectTwoShards(**ds);
  ds = OpenWebDataset({dir_ + "/shard-00?.tar"}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectTwoShards(**ds);
  ds = OpenWebDataset({dir_ + "/shard-000.tar", dir_ + "/shard-001.tar"}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectTwoShards(**ds);
  ds = OpenWebDataset({dir_ + "/shard-{001,000}.tar"}, Options());  // sorted within a pattern
  ASSERT_TRUE(ds.ok()) << ds.status();
  ExpectTwoShards(**ds);
}

TEST_F(WebDatasetTest, MissingShardsAreNotFoundNamingThePatternOrPath) {
  WriteTwoShards();
  const std::string glob = dir_ + "/nope-*.tar";
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({glob}, Options());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ds.status().message(), "webdataset pattern " + glob + " matches no shard");

  ds = OpenWebDataset({dir_ + "/shard-000.tar", dir_ + "/missing.tar"}, Options());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr("webdataset shard " + dir_ + "/missing.tar not found"));

  ds = OpenWebDataset({dir_ + "/shard-{000..002}.tar"}, Options());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr(dir_ + "/shard-002.tar"));
}

TEST_F(WebDatasetTest, TruncatedShardKeepsTheSamplesBeforeTheDamage) {
  const std::string big = Png(Noise(48, 48, 7));
  const std::string full = TarBuilder()
                               .File("a.png", Png(Solid(8, 8, 1, 2, 3)))
                               .File("a.txt", "A")
                               .File("b.png", Png(Solid(8, 8, 4, 5, 6)))
                               .File("c.txt", "C")  // c's caption is whole, its image is not
                               .File("c.png", big)
                               .File("d.png", Png(Solid(8, 8, 7, 8, 9)))
                               .Finish();
  const size_t c_png_header = full.find("c.png");
  ASSERT_NE(c_png_header, std::string::npos);
  Write("t.tar", full.substr(0, c_png_header + 512 + big.size() / 2));
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({dir_ + "/t.tar"}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->Load(0)->caption, "A");
  EXPECT_EQ((*ds)->Load(1)->origin, dir_ + "/t.tar:b");
  const std::vector<DataProblem> problems = (*ds)->open_problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].origin, dir_ + "/t.tar");
  EXPECT_THAT(problems[0].reason, HasSubstr("truncated at byte " + std::to_string(c_png_header)));
  EXPECT_THAT(problems[0].reason, HasSubstr("the rest of the shard is skipped, with the incomplete sample 'c'"));
}

TEST_F(WebDatasetTest, CorruptHeaderKeepsTheSamplesBefore) {
  std::string bytes = TarBuilder()
                          .File("a.png", Png(Solid(8, 8, 1, 2, 3)))
                          .File("b.png", Png(Solid(8, 8, 4, 5, 6)))
                          .Finish();
  const size_t b_header = bytes.find("b.png");
  bytes[b_header] = 'x';  // checksum no longer matches
  Write("c.tar", bytes);
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({dir_ + "/c.tar"}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 1);
  ASSERT_EQ((*ds)->open_problems().size(), 1u);
  EXPECT_THAT((*ds)->open_problems()[0].reason,
              HasSubstr("corrupt at byte " + std::to_string(b_header) + ": bad header checksum"));
}

TEST_F(WebDatasetTest, BadMembersFailAtLoadNamingShardAndKey) {
  const std::string png = Png(Noise(32, 32, 8));
  Write("bad.tar", TarBuilder()
                       .File("good.png", Png(Solid(8, 8, 1, 1, 1)))
                       .File("corrupt.png", png.substr(0, png.size() / 3))
                       .File("text.jpg", "not an image at all")
                       .File("badjson.png", Png(Solid(8, 8, 2, 2, 2)))
                       .File("badjson.json", "{\"caption\": ")
                       .Finish());
  const std::string shard = dir_ + "/bad.tar";
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({shard}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 4);
  EXPECT_TRUE((*ds)->Load(0).ok());
  StatusOr<Sample> corrupt = (*ds)->Load(1);
  EXPECT_EQ(corrupt.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(corrupt.status().message()),
              HasSubstr(shard + ":corrupt: corrupt or truncated image ("));
  StatusOr<Sample> text = (*ds)->Load(2);
  EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(), shard + ":text: not a PNG or JPEG image");
  StatusOr<Sample> json = (*ds)->Load(3);
  EXPECT_EQ(json.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(json.status().message(), shard + ":badjson: malformed .json member (not a JSON object)");
}

TEST_F(WebDatasetTest, LongNamesKeyByTheFullPath) {
  // A dot in a directory does not end the key; the first dot of the base name does.
  const std::string long_dir = std::string(90, 'd') + "/v1.2/" + std::string(40, 'e');
  Write("long.tar", TarBuilder()
                        .File("dotted/x.seg.png", Png(Solid(8, 8, 3, 3, 3)))  // field "seg.png": no image
                        .GnuLongName(long_dir + "/key.png", Png(Solid(8, 8, 3, 3, 3)))
                        .GnuLongName(long_dir + "/key.txt", "long caption")
                        .PaxPath(long_dir + "/pax.jpeg", Jpeg(Solid(8, 8, 200, 200, 200)))
                        .Finish());
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({dir_ + "/long.tar"}, Options());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 2);
  ASSERT_EQ((*ds)->open_problems().size(), 1u);
  EXPECT_EQ((*ds)->open_problems()[0].origin, dir_ + "/long.tar:dotted/x");
  StatusOr<Sample> s = (*ds)->Load(0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->origin, dir_ + "/long.tar:" + long_dir + "/key");
  EXPECT_EQ(s->caption, "long caption");
  EXPECT_EQ((*ds)->Load(1)->origin, dir_ + "/long.tar:" + long_dir + "/pax");
}

TEST_F(WebDatasetTest, ConcurrentLoadsMatchSequentialOnes) {
  TarBuilder a, b;
  for (int i = 0; i < 12; ++i) {
    TarBuilder& t = i % 2 ? b : a;
    const std::string key = "s" + std::to_string(i);
    if (i % 3 == 0) {
      t.File(key + ".jpg", Jpeg(Noise(24, 20, 100 + i)));
    } else {
      t.File(key + ".png", Png(Noise(20, 24, 100 + i)));
    }
    t.File(key + ".txt", "caption " + std::to_string(i));
  }
  Write("c-0.tar", a.Finish());
  Write("c-1.tar", b.Finish());
  StatusOr<std::unique_ptr<Dataset>> ds = OpenWebDataset({dir_ + "/c-{0..1}.tar"}, Options(16));
  ASSERT_TRUE(ds.ok()) << ds.status();
  const Dataset& d = **ds;
  ASSERT_EQ(d.size(), 12);
  std::vector<Sample> expected;
  for (int i = 0; i < 12; ++i) {
    StatusOr<Sample> s = d.Load(i);
    ASSERT_TRUE(s.ok()) << s.status();
    expected.push_back(*s);
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (int k = 0; k < 12; ++k) {
          const int i = (k * 5 + t * 3 + round) % 12;
          StatusOr<Sample> s = d.Load(i);
          if (!s.ok() || s->image.pixels != expected[i].image.pixels ||
              s->caption != expected[i].caption || s->origin != expected[i].origin) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace reca
