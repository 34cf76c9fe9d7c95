#include "reca/safetensors.h"

#include <ATen/ATen.h>

#include <cstdlib>

#include "gtest/gtest.h"
#include "reca/file_util.h"

namespace reca {
namespace {

std::string Tmp(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  return std::string(t ? t : "/tmp") + "/" + name;
}

TEST(SafetensorsTest, RoundTripAllDtypesAndMetadata) {
  std::map<std::string, at::Tensor> t = {
      {"f32", at::randn({3, 4})},
      {"f64", at::randn({2}, at::kDouble)},
      {"bf16", at::randn({5}).to(at::kBFloat16)},
      {"i64", at::arange(7, at::kLong)},
      {"u8", at::arange(5, at::kByte)},
      {"flag", at::ones({2, 2}, at::kBool)},
      {"scalar", at::full({}, 3.5)},
      {"empty", at::zeros({0, 3})},
      {"strided", at::randn({4, 4}).t()},
  };
  const std::string path = Tmp("rt.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, t, {{"family", "mar"}, {"step", "12"}}).ok());
  auto got = ReadSafetensors(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->metadata.at("step"), "12");
  ASSERT_EQ(got->tensors.size(), t.size());
  for (const auto& [name, want] : t) {
    const at::Tensor& have = got->tensors.at(name);
    EXPECT_EQ(have.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(have.sizes(), want.sizes()) << name;
    EXPECT_TRUE(at::equal(have, want.contiguous())) << name;
  }
}

TEST(SafetensorsTest, CorruptFilesGiveErrorsNamingFileAndTensor) {
  const std::string path = Tmp("bad.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", at::ones({64})}}).ok());
  std::string bytes = *ReadFile(path);

  // Truncated data.
  auto trunc = DecodeSafetensors(bytes.substr(0, bytes.size() - 10), "x.safetensors");
  EXPECT_EQ(trunc.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(trunc.status().message().find("x.safetensors"), std::string::npos);
  EXPECT_NE(trunc.status().message().find("'w'"), std::string::npos);
  // Too short / absurd header length / not JSON.
  EXPECT_FALSE(DecodeSafetensors("abc", "f").ok());
  std::string huge = bytes;
  huge[7] = '\x7f';
  EXPECT_FALSE(DecodeSafetensors(huge, "f").ok());
  std::string garbage = bytes;
  garbage[8] = '!';
  EXPECT_NE(DecodeSafetensors(garbage, "f").status().message().find("JSON"), std::string::npos);
  // Missing file.
  EXPECT_EQ(ReadSafetensors(Tmp("nope.safetensors")).status().code(), StatusCode::kNotFound);
}

// Hardening (ParseSafetensorsHeader): a zero dim no longer hides an
// overflowing product of the others, and dims past INT64_MAX are rejected
// before they become negative tensor sizes.
TEST(SafetensorsTest, ShapeWhoseProductOverflowsIsRejectedEvenWhenEmpty) {
  std::string header = R"({"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  bytes += header;
  auto r = DecodeSafetensors(bytes, "f");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("tensor 'a': shape overflows"), std::string::npos) << r.status();
}

TEST(SafetensorsTest, HeaderIsEightByteAligned) {
  auto bytes = EncodeSafetensors({{"a", at::ones({1})}}, {});
  ASSERT_TRUE(bytes.ok());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t((*bytes)[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes->size(), 8 + n + 4);
}

}  // namespace
}  // namespace reca
