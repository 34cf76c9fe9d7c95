#include "common/clock.h"

#include "gtest/gtest.h"

namespace reca {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.AdvanceTime(absl::Seconds(30));
  EXPECT_EQ(clock.Now() - t0, absl::Seconds(30));
  clock.SetTime(t0);
  EXPECT_EQ(clock.Now(), t0);
  const Clock& real = *RealClock::Get();
  EXPECT_LE(absl::AbsDuration(real.Now() - absl::Now()), absl::Seconds(5));
}

}  // namespace
}  // namespace reca
