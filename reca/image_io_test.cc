#include "reca/image_io.h"

#include <cstdlib>

#include "gtest/gtest.h"
#include "reca/file_util.h"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include "stb_image.h"

namespace reca {
namespace {

TEST(ImageIoTest, GridDecodesBackWithTheRightPixels) {
  RgbImage red{2, 2, std::vector<uint8_t>(12, 0)}, blue{2, 2, std::vector<uint8_t>(12, 0)};
  for (int i = 0; i < 4; ++i) red.pixels[3 * i] = 200, blue.pixels[3 * i + 2] = 100;
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(t ? t : "/tmp") + "/grid.png";
  ASSERT_TRUE(WritePngGrid(path, {{red, blue}, {blue}}, /*scale=*/3, /*gap=*/1).ok());
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  int w, h, c;
  uint8_t* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes->data()),
                                      static_cast<int>(bytes->size()), &w, &h, &c, 3);
  ASSERT_NE(px, nullptr);
  EXPECT_EQ(w, 2 * (2 * 3 + 1) + 1);
  EXPECT_EQ(h, 2 * (2 * 3 + 1) + 1);
  auto at = [&](int x, int y, int ch) { return px[(y * w + x) * 3 + ch]; };
  EXPECT_EQ(at(1, 1, 0), 200);          // first image, first pixel
  EXPECT_EQ(at(8, 1, 2), 100);          // second image
  EXPECT_EQ(at(0, 0, 1), 255);          // gap is white
  EXPECT_EQ(at(8, 8, 0), 255);          // missing cell stays white
  stbi_image_free(px);
}

TEST(ImageIoTest, RejectsMismatchedBuffers) {
  RgbImage bad{4, 4, std::vector<uint8_t>(5)};
  EXPECT_EQ(EncodePng(bad).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reca
