#include "reca/ckpt/sha256.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "reca/ckpt/checkpoint_store.h"

namespace reca {
namespace {

TEST(Sha256Test, StandardVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding edges, checked against the same
  // data fed one byte at a time (a different code path through Update).
  for (size_t len : {54u, 55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 127u, 128u}) {
    std::string s(len, 'x');
    Sha256 bytewise;
    for (char c : s) bytewise.Update(&c, 1);
    EXPECT_EQ(bytewise.HexDigest(), Sha256Hex(s)) << len;
  }
  // FIPS 180-4 two-block vector (896-bit message).
  EXPECT_EQ(
      Sha256Hex(
          "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklm"
          "nopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256Test, MultiUpdateSplitsMatchOneShot) {
  std::string data(10007, '\0');
  uint32_t x = 12345;
  for (char& c : data) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  const std::string want = Sha256Hex(data);
  for (size_t chunk : {1u, 3u, 63u, 64u, 65u, 100u, 4096u}) {
    Sha256 h;
    for (size_t off = 0; off < data.size(); off += chunk) {
      h.Update(data.data() + off, std::min(chunk, data.size() - off));
    }
    EXPECT_EQ(h.HexDigest(), want) << "chunk " << chunk;
  }
  // Uneven splits, including empty updates.
  Sha256 h;
  size_t off = 0;
  for (size_t step = 0; off < data.size(); ++step) {
    const size_t n = std::min((step * 37) % 150, data.size() - off);
    h.Update(data.data() + off, n);
    off += n;
  }
  EXPECT_EQ(h.HexDigest(), want);
}

TEST(Sha256Test, ShaNiAndPortableAgree) {
  std::string data(100000, '\0');
  uint64_t x = 42;
  for (char& c : data) c = static_cast<char>((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  std::vector<std::string> fast;
  for (size_t n : {0, 1, 55, 56, 63, 64, 65, 1000, 99999, 100000}) fast.push_back(Sha256Hex(data.substr(0, n)));
  Sha256ForcePortableForTesting(true);
  EXPECT_FALSE(Sha256UsesShaNi());
  size_t i = 0;
  for (size_t n : {0, 1, 55, 56, 63, 64, 65, 1000, 99999, 100000}) {
    EXPECT_EQ(Sha256Hex(data.substr(0, n)), fast[i++]) << n;
  }
  Sha256ForcePortableForTesting(false);
  std::cout << "SHA-NI in use: " << (Sha256UsesShaNi() ? "yes" : "no") << "\n";
}

TEST(Sha256Test, DigestDoesNotDisturbState) {
  Sha256 h;
  h.Update("ab", 2);
  EXPECT_EQ(h.HexDigest(), Sha256Hex("ab"));
  h.Update("c", 1);
  EXPECT_EQ(h.HexDigest(), Sha256Hex("abc"));
  const Sha256::DigestBytes d = h.Digest();
  EXPECT_EQ(ToHex(d.data(), d.size()), Sha256Hex("abc"));
}

// Not an assertion (shared machines vary); prints the rate for the record.
TEST(Sha256Test, Throughput) {
  const std::string data(64 << 20, 'z');
  const auto start = std::chrono::steady_clock::now();
  const std::string hex = Sha256Hex(data);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(hex.size(), 64u);
  std::printf("SHA-256: %.0f MB/s (64 MiB in %.3f s)\n", 64.0 * 1.048576 / s, s);
}

}  // namespace
}  // namespace reca
