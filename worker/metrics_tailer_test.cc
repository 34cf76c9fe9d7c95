#include "worker/metrics_tailer.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reca {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::Pair;

std::string Line(int64_t step) {
  return R"({"step":)" + std::to_string(step) + R"(,"rank":0,"loss":)" +
         std::to_string(step) + "}\n";
}

class MetricsTailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::TempDir() + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() +
            ".jsonl";
    fs::remove(path_);
  }
  void Write(const std::string& text, bool append = true) {
    std::ofstream(path_, append ? std::ios::app : std::ios::trunc) << text;
  }
  std::vector<int64_t> Steps(const std::vector<MetricRecord>& records) {
    std::vector<int64_t> steps;
    for (const auto& r : records) steps.push_back(r.step);
    return steps;
  }
  std::string path_;
};

TEST(ParseMetricLineTest, FlattensNumbersInOrderAndSkipsTheRest) {
  auto r = ParseMetricLine(
      R"({"step":20,"rank":1,"loss":1.5,"loss_by_source":{"b":0.5,"a":0.25},"note":"x","nan":null,"lr":3e-06})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->step, 20);
  EXPECT_THAT(r->values,
              ElementsAre(Pair("loss", 1.5), Pair("loss_by_source/b", 0.5),
                          Pair("loss_by_source/a", 0.25), Pair("lr", 3e-06)));
  EXPECT_DOUBLE_EQ(r->Get("lr"), 3e-06);
  EXPECT_DOUBLE_EQ(r->Get("missing", -1), -1);
  EXPECT_FALSE(ParseMetricLine("").has_value());
  EXPECT_FALSE(ParseMetricLine("{\"loss\": 1}").has_value());  // no step
  EXPECT_FALSE(ParseMetricLine("{\"step\": 1.5}").has_value());
  EXPECT_FALSE(ParseMetricLine("[1, 2]").has_value());
  EXPECT_FALSE(ParseMetricLine("{\"step\": 1,").has_value());
}

TEST_F(MetricsTailerTest, MissingFileIsNoRecords) {
  MetricsTailer t(path_);
  EXPECT_TRUE(t.ReadNew(10).empty());
  EXPECT_FALSE(t.latest().has_value());
}

TEST_F(MetricsTailerTest, ReadsCompleteLinesOnceAndRespectsTheLimit) {
  MetricsTailer t(path_);
  Write(Line(1) + Line(2) + Line(3) + "garbage\n" + Line(4) +
        R"({"step":5,"lo)");
  EXPECT_THAT(Steps(t.ReadNew(2)), ElementsAre(1, 2));
  EXPECT_THAT(Steps(t.ReadNew(10)), ElementsAre(3, 4));
  EXPECT_EQ(t.latest()->step, 4);
  Write("ss\":5}\n");
  EXPECT_THAT(Steps(t.ReadNew(10)), ElementsAre(5));
  EXPECT_TRUE(t.ReadNew(10).empty());
  EXPECT_EQ(t.last_returned_step(), 5);
}

TEST_F(MetricsTailerTest, SkipExistingForwardsOnlyNewSteps) {
  Write(Line(1) + Line(2));
  MetricsTailer t(path_);
  t.SkipExisting();
  EXPECT_EQ(t.last_returned_step(), 2);
  Write(Line(3));
  EXPECT_THAT(Steps(t.ReadNew(10)), ElementsAre(3));
}

TEST_F(MetricsTailerTest, ARewrittenOrShrunkFileIsReadAgainFromTheStart) {
  // A restarted rank: its launch skips the dead attempt's lines (steps 1-3,
  // of which 3 may never have reached the coordinator) ...
  Write(Line(1) + Line(2) + Line(3));
  MetricsTailer t(path_);
  t.SkipExisting();
  EXPECT_EQ(t.last_returned_step(), 3);
  // ... then the trainer trims the file to its checkpoint (step 2) by rename
  // and re-runs step 3: every line of the new file is returned, the kept ones
  // again (the history is keyed by step: a repeat overwrites itself).
  {
    std::ofstream(path_ + ".tmp") << Line(1) << Line(2) << Line(3) << Line(4);
  }
  fs::rename(path_ + ".tmp", path_);
  EXPECT_THAT(Steps(t.ReadNew(10)), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(Steps(t.ReadNew(10)), ElementsAre());
  // Truncated in place: the same.
  Write(Line(2) + Line(6), /*append=*/false);
  EXPECT_THAT(Steps(t.ReadNew(10)), ElementsAre(2, 6));
  EXPECT_EQ(t.latest()->step, 6);
}

}  // namespace
}  // namespace reca
