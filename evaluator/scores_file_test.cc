#include "evaluator/scores_file.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reca {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const std::vector<std::string> kBoth = {"shapes_eval", "recon"};

TEST(ScoresFileTest, FlattensNumericLeavesAndSkipsTheRest) {
  const auto got = ParseScores(
      R"({"checkpoint": "/c", "suites": {"shapes_eval": {"overall": 0.5,
          "tags": {"position": 0.25, "colors": 1}, "timing": {"load": 2},
          "ok": true, "note": "x", "list": [1, 2], "missing": null},
          "recon": {"psnr": 30, "ssim": 0.9, "heldout_loss": 0.01}}})",
      kBoth, "/c", "s.json");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].suite, "shapes_eval");
  ASSERT_TRUE(got[0].values.ok()) << got[0].values.status();
  EXPECT_THAT(*got[0].values,
              UnorderedElementsAre(Pair("overall", 0.5), Pair("position", 0.25),
                                   Pair("colors", 1), Pair("timing.load", 2)));
  EXPECT_EQ(got[1].suite, "recon");
  ASSERT_TRUE(got[1].values.ok()) << got[1].values.status();
  EXPECT_THAT(*got[1].values,
              UnorderedElementsAre(Pair("psnr", 30), Pair("ssim", 0.9),
                                   Pair("heldout_loss", 0.01)));
}

TEST(ScoresFileTest, ASuiteWithoutItsRequiredValuesFailsAlone) {
  const auto got = ParseScores(
      R"({"suites": {"shapes_eval": {"overall": 0.5},
          "recon": {"psnr": null, "ssim": 0.9, "heldout_loss": 0.01}}})",
      kBoth, "/c", "s.json");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].values.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got[0].values.status().message(), HasSubstr("no \"tags\""));
  EXPECT_THAT(got[1].values.status().message(),
              HasSubstr("s.json: suite recon: no number \"psnr\""));
}

TEST(ScoresFileTest, AnUnknownSuiteNeedsOneNumber) {
  const auto got = ParseScores(
      R"({"suites": {"geneval": {"overall": 0.7}, "dpg": {"n": "x"}}})",
      {"geneval", "dpg"}, "/c", "s.json");
  ASSERT_TRUE(got[0].values.ok());
  EXPECT_THAT(*got[0].values, UnorderedElementsAre(Pair("overall", 0.7)));
  EXPECT_THAT(got[1].values.status().message(), HasSubstr("no numeric values"));
}

TEST(ScoresFileTest, ShapesEditCategoriesAreFlattened) {
  const auto got = ParseScores(
      R"({"suites": {"shapes_edit": {"overall": 0.5, "categories": {"add": 1, "move": 0},
          "carried_out": 0.75, "preserved": 0.5, "masked_psnr": 30, "pairs": 2}}})",
      {"shapes_edit"}, "/c", "s.json");
  ASSERT_TRUE(got[0].values.ok()) << got[0].values.status();
  EXPECT_THAT(*got[0].values,
              UnorderedElementsAre(Pair("overall", 0.5), Pair("categories.add", 1),
                                   Pair("categories.move", 0), Pair("carried_out", 0.75),
                                   Pair("preserved", 0.5), Pair("masked_psnr", 30), Pair("pairs", 2)));
  const auto missing = ParseScores(R"({"suites": {"shapes_edit": {"overall": 0.5}}})",
                                   {"shapes_edit"}, "/c", "s.json");
  EXPECT_THAT(missing[0].values.status().message(),
              HasSubstr("suite shapes_edit: no number \"carried_out\""));
}

TEST(ScoresFileTest, AnotherCheckpointsScoresFailEverySuite) {
  const auto got = ParseScores(
      R"({"checkpoint": "/other", "suites": {"recon": {"psnr": 1,
          "ssim": 1, "heldout_loss": 1}}})",
      {"recon"}, "/c", "s.json");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_THAT(got[0].values.status().message(),
              HasSubstr("scores of checkpoint /other, not /c"));
}

TEST(ScoresFileTest, NotJsonOrNoSuitesFailsEverySuite) {
  for (const char* text : {"", "[1]", "{\"suites\": 3}", "{\"suites\": {"}) {
    const auto got = ParseScores(text, kBoth, "/c", "s.json");
    ASSERT_EQ(got.size(), 2u);
    for (const auto& s : got) {
      EXPECT_EQ(s.values.status().code(), absl::StatusCode::kDataLoss) << text;
    }
  }
  const auto missing = ReadScoresFile("/nonexistent/scores.json", kBoth, "/c");
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_THAT(missing[1].values.status().message(),
              HasSubstr("reading scores"));
}

}  // namespace
}  // namespace reca
