#include "reca/rng.h"

#include <set>

#include "gtest/gtest.h"

namespace reca {
namespace {

TEST(RngTest, SameSeedAndStreamGiveSameSequence) {
  Rng a(42, 7), b(42, 7), c(42, 8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(RngTest, RangesAreRespectedAndCovered) {
  Rng r(1);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = r.Between(3, 7);
    ASSERT_GE(v, 3);
    ASSERT_LE(v, 7);
    seen.insert(v);
    const double u = r.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_EQ(seen.size(), 5u);
}

}  // namespace
}  // namespace reca
