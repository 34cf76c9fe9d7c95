// Fixtures for GenEval's rules. Every expected value below was derived by hand
// from upstream's evaluate_images.py / summary_scores.py; the derivation is in
// the comment next to it.
#include "reca/eval/geneval_rules.h"

#include <cmath>

#include "gtest/gtest.h"

namespace reca {
namespace {

using Box = std::array<double, 4>;
using Rel = std::set<std::string>;

GenEvalClause C(const std::string& cls, int count = 1) {
  GenEvalClause c;
  c.cls = cls;
  c.count = count;
  return c;
}
GenEvalClause Colored(const std::string& cls, const std::string& color) {
  GenEvalClause c = C(cls);
  c.color = color;
  return c;
}
GenEvalClause Placed(const std::string& cls, const std::string& rel,
                     int target) {
  GenEvalClause c = C(cls);
  c.position = std::make_pair(rel, target);
  return c;
}
GenEvalDetection D(double score, Box box = {0, 0, 10, 10},
                   std::string color = "") {
  return GenEvalDetection{box, score, std::move(color)};
}

// Filters as upstream does for the metadata's tag, then judges.
GenEvalImageResult Judge(const GenEvalMetadata& m,
                         const GenEvalDetections& raw) {
  return EvaluateGenEvalImage(m, FilterGenEvalDetections(raw, m.tag));
}

TEST(GenEvalRelativePositionTest, HandDerivedCases) {
  // Centres (5,5) and (25,5): offset (-20, 0); extents 10+10 on each axis, dead
  // zone 0.1*20 = 2, so revised (-18, 0); |offset| = 20; dx = -0.9 < -0.5.
  EXPECT_EQ(GenEvalRelativePosition({0, 0, 10, 10}, {20, 0, 30, 10}),
            Rel({"left of"}));
  EXPECT_EQ(GenEvalRelativePosition({20, 0, 30, 10}, {0, 0, 10, 10}),
            Rel({"right of"}));
  // Offset (-1, 0) is inside the dead zone of 2 on x, 0 on y: no relation.
  EXPECT_EQ(GenEvalRelativePosition({0, 0, 10, 10}, {1, 0, 11, 10}), Rel());
  // Offset (-20, -20), revised (-18, -18), |offset| = 28.28: dx = dy = -0.636.
  EXPECT_EQ(GenEvalRelativePosition({0, 0, 10, 10}, {20, 20, 30, 30}),
            Rel({"left of", "above"}));
  // Centres (0,0) and (10,4), 2x2 boxes: offset (-10, -4), dead zone 0.4,
  // revised (-9.6, -3.6), |offset| = 10.77: dx = -0.891, dy = -0.334.
  EXPECT_EQ(GenEvalRelativePosition({-1, -1, 1, 1}, {9, 3, 11, 5}),
            Rel({"left of"}));
  // Straight below: offset (0, 20) -> revised (0, 18), dy = 0.9.
  EXPECT_EQ(GenEvalRelativePosition({0, 20, 10, 30}, {0, 0, 10, 10}),
            Rel({"below"}));
  // Offset (0, 3) with 10-high boxes: |3| - 0.1*20 = 1 > 0, dy = 1/3 <= 0.5:
  // outside the dead zone but not decisive either, so no relation.
  EXPECT_EQ(GenEvalRelativePosition({0, 3, 10, 13}, {0, 0, 10, 10}), Rel());
}

TEST(GenEvalIouTest, InclusivePixelAreas) {
  // Each box covers 11x11 = 121 pixels (+1 convention); overlap x in [5,10],
  // y in [0,10]: 6*11 = 66; union 242 - 66 = 176.
  EXPECT_NEAR(GenEvalIou({0, 0, 10, 10}, {5, 0, 15, 10}), 66.0 / 176.0, 1e-12);
  EXPECT_EQ(GenEvalIou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0);
}

TEST(GenEvalFilterTest, ThresholdsSortingAndCap) {
  GenEvalDetections raw;
  raw["dog"] = {D(0.5), D(0.95), D(0.3), D(0.91)};
  raw["cat"] = {D(0.2)};
  // Default tag: score > 0.3 strictly, so 0.3 goes; sorted 0.95, 0.91, 0.5.
  GenEvalDetections f = FilterGenEvalDetections(raw, "two_object");
  ASSERT_EQ(f.count("dog"), 1u);
  ASSERT_EQ(f["dog"].size(), 3u);
  EXPECT_EQ(f["dog"][0].score, 0.95);
  EXPECT_EQ(f["dog"][1].score, 0.91);
  EXPECT_EQ(f["dog"][2].score, 0.5);
  EXPECT_EQ(f.count("cat"), 0u);  // nothing left: the class is dropped
  // Counting: score > 0.9 only.
  f = FilterGenEvalDetections(raw, "counting");
  ASSERT_EQ(f["dog"].size(), 2u);
  // 20 confident detections: at most 16 kept per class.
  raw["person"] = std::vector<GenEvalDetection>(20, D(0.99));
  EXPECT_EQ(FilterGenEvalDetections(raw, "counting")["person"].size(), 16u);
}

TEST(GenEvalFilterTest, OptionalNmsDropsOverlaps) {
  GenEvalOptions o;
  o.max_overlap = 0.5;
  GenEvalDetections raw;
  // IoU of the first two: overlap 6*11 = 66 over 176 = 0.375 < 0.5, kept;
  // the third equals the first (IoU 1 >= 0.5), dropped.
  raw["dog"] = {D(0.9, {0, 0, 10, 10}), D(0.8, {5, 0, 15, 10}),
                D(0.7, {0, 0, 10, 10})};
  EXPECT_EQ(FilterGenEvalDetections(raw, "single_object", o)["dog"].size(), 2u);
  // Default max_overlap 1.0: NMS off, all three stay.
  EXPECT_EQ(FilterGenEvalDetections(raw, "single_object")["dog"].size(), 3u);
}

TEST(GenEvalEvaluateTest, TwoObjectMissingSecond) {
  // cat's only detection scores 0.25 <= 0.3: filtered, so "found 0".
  GenEvalMetadata m{
      "two_object", "a photo of a dog and a cat", {C("dog"), C("cat")}, {}};
  GenEvalDetections raw{{"dog", {D(0.95)}}, {"cat", {D(0.25)}}};
  GenEvalImageResult r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected cat>=1, found 0");
  raw["cat"] = {D(0.31)};
  EXPECT_TRUE(Judge(m, raw).correct);
}

TEST(GenEvalEvaluateTest, CountingUsesTheHighThresholdAndExclude) {
  // "three dogs": include dog x3, exclude dog x4. Scores 0.95 0.92 0.91 pass
  // the 0.9 counting threshold, 0.85 and 0.5 do not: 3 found, 3 < 4 -> correct.
  GenEvalMetadata m{
      "counting", "a photo of three dogs", {C("dog", 3)}, {C("dog", 4)}};
  GenEvalDetections raw{{"dog", {D(0.85), D(0.95), D(0.5), D(0.92), D(0.91)}}};
  EXPECT_TRUE(Judge(m, raw).correct);
  // A fourth above 0.9 (0.905): exclude fires, 4 >= 4.
  raw["dog"].push_back(D(0.905));
  GenEvalImageResult r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected dog<4, found 4");
  // Only two above 0.9: include fails, exclude does not.
  raw["dog"] = {D(0.95), D(0.92), D(0.85)};
  r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected dog>=3, found 2");
  // Upstream's cap: 20 detections > 0.9 are cut to 16, so "< 17" holds.
  GenEvalMetadata many{"counting", "", {C("person", 16)}, {C("person", 17)}};
  EXPECT_TRUE(
      Judge(many, {{"person", std::vector<GenEvalDetection>(20, D(0.99))}})
          .correct);
}

TEST(GenEvalEvaluateTest, ColorIsJudgedOnTheMostConfidentDetection) {
  GenEvalMetadata m{
      "colors", "a photo of a red car", {Colored("car", "red")}, {}};
  // Sorted: red (0.9) before blue (0.8); the top-1 is red -> correct.
  GenEvalDetections raw{{"car", {D(0.8, {}, "blue"), D(0.9, {}, "red")}}};
  EXPECT_TRUE(Judge(m, raw).correct);
  // Red only second most confident: the top-1 is blue -> wrong, even though
  // a red car was detected.
  raw["car"] = {D(0.8, {}, "blue"), D(0.7, {}, "red")};
  GenEvalImageResult r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected red car>=1, found 0 red; and 1 blue");
  // Unknown colour matches nothing.
  raw["car"] = {D(0.8)};
  EXPECT_FALSE(Judge(m, raw).correct);
}

TEST(GenEvalEvaluateTest, PositionAgainstTheTargetGroup) {
  // "a dog left of a bench": include [bench, dog @ (left of, 0)].
  GenEvalMetadata m{"position",
                    "a photo of a dog left of a bench",
                    {C("bench"), Placed("dog", "left of", 0)},
                    {}};
  GenEvalDetections raw{{"bench", {D(0.9, {20, 0, 30, 10})}},
                        {"dog", {D(0.9, {0, 0, 10, 10})}}};
  EXPECT_TRUE(
      Judge(m, raw).correct);  // dx = -0.9 (see the relative-position fixture)
  // Swapped boxes: the dog is right of the bench.
  raw = {{"bench", {D(0.9, {0, 0, 10, 10})}},
         {"dog", {D(0.9, {20, 0, 30, 10})}}};
  GenEvalImageResult r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected dog left of target, found right of target");
  // Only the most confident dog counts: a second, lower-scored dog on the
  // left does not rescue it.
  raw["dog"].push_back(D(0.5, {0, 0, 5, 5}));
  EXPECT_FALSE(Judge(m, raw).correct);
  // Inside the dead zone: no relation at all.
  raw = {{"bench", {D(0.9, {1, 0, 11, 10})}},
         {"dog", {D(0.9, {0, 0, 10, 10})}}};
  r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected dog left of target, found  target");
}

TEST(GenEvalEvaluateTest, PositionWithAFailedTarget) {
  // bench missing: clause 0 fails ("found 0") and matches nothing; clause 1
  // finds its dog but has no target group -> a second reason.
  GenEvalMetadata m{
      "position", "", {C("bench"), Placed("dog", "left of", 0)}, {}};
  GenEvalImageResult r = Judge(m, {{"dog", {D(0.9)}}});
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason,
            "expected bench>=1, found 0\nno target for dog to be left of");
}

TEST(GenEvalEvaluateTest, ColorAttribution) {
  GenEvalMetadata m{"color_attr",
                    "a photo of a red cup and a blue book",
                    {Colored("cup", "red"), Colored("book", "blue")},
                    {}};
  // book's most confident detection (0.6) is green: fails on the second clause
  // only.
  GenEvalDetections raw{{"cup", {D(0.9, {}, "red")}},
                        {"book", {D(0.5, {}, "blue"), D(0.6, {}, "green")}}};
  GenEvalImageResult r = Judge(m, raw);
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected blue book>=1, found 0 blue; and 1 green");
  raw["book"] = {D(0.6, {}, "blue")};
  EXPECT_TRUE(Judge(m, raw).correct);
}

TEST(GenEvalSummaryTest, MeanOfTagAccuracies) {
  // single_object: prompt 0 (T, F), prompt 1 (T) -> 2/3;
  // counting: prompt 2 (F, F) -> 0; colors: prompt 3 (T) -> 1.
  // overall = (2/3 + 0 + 1) / 3 = 5/9; images 3/6 correct; prompts 0, 1, 3
  // have a correct image: 3/4.
  std::vector<GenEvalScoredImage> images = {
      {0, "single_object", true}, {0, "single_object", false},
      {1, "single_object", true}, {2, "counting", false},
      {2, "counting", false},     {3, "colors", true}};
  GenEvalSummary s = SummarizeGenEval(images);
  ASSERT_EQ(s.tags.size(), 3u);
  EXPECT_EQ(s.tags[0].tag, "single_object");
  EXPECT_NEAR(s.tags[0].accuracy, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(s.tags[1].tag, "counting");
  EXPECT_EQ(s.tags[1].accuracy, 0.0);
  EXPECT_EQ(s.tags[2].accuracy, 1.0);
  EXPECT_NEAR(s.overall, 5.0 / 9.0, 1e-12);
  EXPECT_EQ(s.images, 6);
  EXPECT_EQ(s.prompts, 4);
  EXPECT_NEAR(s.correct_images, 0.5, 1e-12);
  EXPECT_NEAR(s.correct_prompts, 0.75, 1e-12);
  EXPECT_EQ(SummarizeGenEval({}).overall, 0.0);
}

TEST(GenEvalParseTest, MetadataJsonlRoundTrip) {
  const std::string text =
      R"({"tag": "position", "include": [{"class": "bench", "count": 1}, {"class": "dog", "count": 1, "position": ["left of", 0]}], "prompt": "a photo of a dog left of a bench"})"
      "\n\n"
      R"({"tag": "counting", "include": [{"class": "clock", "count": 3}], "exclude": [{"class": "clock", "count": 4}], "prompt": "a photo of three clocks"})"
      "\n";
  auto parsed = ParseGenEvalMetadataJsonl(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  const GenEvalMetadata& p = (*parsed)[0];
  EXPECT_EQ(p.tag, "position");
  ASSERT_EQ(p.include.size(), 2u);
  ASSERT_TRUE(p.include[1].position.has_value());
  EXPECT_EQ(p.include[1].position->first, "left of");
  EXPECT_EQ(p.include[1].position->second, 0);
  EXPECT_EQ((*parsed)[1].exclude[0].count, 4);
  auto again = ParseGenEvalMetadataJsonl(GenEvalMetadataToJson((*parsed)[1]));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].prompt, "a photo of three clocks");
  EXPECT_EQ((*again)[0].exclude[0].count, 4);
}

TEST(GenEvalParseTest, MetadataErrorsNameTheLine) {
  auto bad = ParseGenEvalMetadataJsonl(
      "{\"tag\": \"x\", \"include\": [{\"class\": \"a\", "
      "\"position\": [\"left of\", 0]}]}\n");
  ASSERT_FALSE(bad.ok());  // position 0 refers to itself, not an earlier clause
  EXPECT_NE(std::string(bad.status().message()).find("metadata line 1"),
            std::string::npos);
  EXPECT_FALSE(ParseGenEvalMetadataJsonl("not json\n").ok());
  EXPECT_FALSE(
      ParseGenEvalMetadataJsonl(
          R"({"tag": "x", "include": [{"class": "a", "position": ["near", 0]}]})")
          .ok());
}

TEST(GenEvalSidecarTest, ParsesAndScoresEndToEnd) {
  const std::string metadata =
      R"({"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"})"
      "\n"
      R"({"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"})"
      "\n";
  // Image 1: dog at 0.8 > 0.3 -> correct. Image 2: no dog above 0.3 -> wrong.
  // Image 3 (prompt 1 from its path): top car red -> correct.
  // single_object 1/2, colors 1/1: overall (0.5 + 1) / 2 = 0.75.
  const std::string sidecar = R"({"images": [
    {"filename": "00000/samples/0000.png", "detections": {"dog": [{"box": [1, 2, 3, 4], "score": 0.8}]}},
    {"filename": "x.png", "prompt_index": 0, "detections": {"dog": [{"box": [1, 2, 3, 4], "score": 0.2}]}},
    {"filename": "/out/00001/samples/0002.png",
     "detections": {"car": [{"box": [0, 0, 9, 9, 0.9], "score": 0.9, "color": "red"},
                            {"box": [0, 0, 9, 9], "score": 0.6, "color": "blue"}]}}]})";
  auto meta = ParseGenEvalMetadataJsonl(metadata);
  ASSERT_TRUE(meta.ok()) << meta.status();
  auto images = ParseGenEvalSidecar(sidecar);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 3u);
  EXPECT_EQ((*images)[2].prompt_index, 1);
  EXPECT_EQ((*images)[2].detections["car"][0].color, "red");
  auto run = ScoreGenEvalSidecar(*meta, *images);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->rows[0].result.correct);
  EXPECT_FALSE(run->rows[1].result.correct);
  EXPECT_EQ(run->rows[1].result.reason, "expected dog>=1, found 0");
  EXPECT_TRUE(run->rows[2].result.correct);
  EXPECT_NEAR(run->summary.overall, 0.75, 1e-12);
  EXPECT_EQ(run->summary.prompts, 2);
}

TEST(GenEvalSidecarTest, Errors) {
  EXPECT_FALSE(ParseGenEvalSidecar("{").ok());
  EXPECT_FALSE(
      ParseGenEvalSidecar(R"({"images": [{"filename": "no_index.png"}]})")
          .ok());
  EXPECT_FALSE(
      ParseGenEvalSidecar(
          R"([{"filename": "00000/samples/0.png", "detections": {"dog": [{"box": [1, 2], "score": 1}]}}])")
          .ok());
  auto images = ParseGenEvalSidecar(
      R"([{"filename": "00007/samples/0.png"}])");  // bare array
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_FALSE(ScoreGenEvalSidecar({}, *images).ok());  // prompt 7 of none
}

}  // namespace
}  // namespace reca
