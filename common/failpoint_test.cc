#include "common/failpoint.h"

#include "gtest/gtest.h"

namespace reca {
namespace {

absl::Status Site() {
  RECA_FAILPOINT("test.site");
  return absl::OkStatus();
}

TEST(FailpointTest, OffUnlessConfiguredThenErrorsOnTheNthPass) {
  ASSERT_TRUE(SetFailpoints("").ok());
  EXPECT_TRUE(Site().ok());
  EXPECT_EQ(FailpointHits("test.site"), 1);
  ASSERT_TRUE(SetFailpoints("test.site=error@2, other=crash").ok());
  EXPECT_TRUE(Site().ok());
  const absl::Status second = Site();
  EXPECT_EQ(second.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.message(), "failpoint test.site");
  EXPECT_TRUE(Site().ok());
  ASSERT_TRUE(SetFailpoints("test.site=error").ok());  // every pass
  EXPECT_FALSE(Site().ok());
  EXPECT_FALSE(Site().ok());
}

TEST(FailpointTest, CrashEndsTheProcessAtOnce) {
  EXPECT_EXIT(
      {
        (void)SetFailpoints("test.site=crash");
        (void)Site();
      },
      ::testing::ExitedWithCode(kFailpointExitCode), "failpoint test.site: crashing");
}

TEST(FailpointTest, BadSpecsNameTheEntry) {
  for (const char* bad : {"x", "x=explode", "x=error@0", "=crash", "x=crash@two"}) {
    const absl::Status s = SetFailpoints(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("expected site=crash|error[@N]"), std::string::npos);
  }
}

}  // namespace
}  // namespace reca
