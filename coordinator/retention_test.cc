#include "coordinator/retention.h"

#include "gtest/gtest.h"

namespace reca::coordinator {
namespace {

using Steps = std::vector<int64_t>;

TEST(RetentionTest, KeepsTheNewest) {
  RetentionInput in;
  in.steps = {10, 20, 30, 40};
  in.keep = 2;
  EXPECT_EQ(ApplyRetention(in).drop, (Steps{10, 20}));
  in.keep = 4;
  EXPECT_TRUE(ApplyRetention(in).drop.empty());
  in.keep = 0;  // keep all
  EXPECT_TRUE(ApplyRetention(in).drop.empty());
  in.keep = 1;
  EXPECT_EQ(ApplyRetention(in).drop, (Steps{10, 20, 30}));  // never the newest
}

TEST(RetentionTest, KeepsTheBestByScoreAndThePinned) {
  RetentionInput in;
  in.steps = {10, 20, 30, 40};
  in.keep = 1;
  in.best = KeepBest{"shapes_eval", "overall", false};
  in.scores = {{10, 0.4}, {20, 0.7}, {30, 0.7}, {40, 0.5}, {5, 0.9}};  // 5: gone
  in.pinned = {30};  // being scored
  RetentionDecision d = ApplyRetention(in);
  EXPECT_EQ(d.best, 20);  // the earliest of a tie; step 5 is not recorded
  EXPECT_EQ(d.drop, (Steps{10}));
  in.best->lower_is_better = true;
  in.pinned.clear();
  d = ApplyRetention(in);
  EXPECT_EQ(d.best, 10);
  EXPECT_EQ(d.drop, (Steps{20, 30}));
  in.scores = {{10, std::nan("")}};  // no usable score: no best
  d = ApplyRetention(in);
  EXPECT_FALSE(d.best.has_value());
  EXPECT_EQ(d.drop, (Steps{10, 20, 30}));
}

}  // namespace
}  // namespace reca::coordinator
