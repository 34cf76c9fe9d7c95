// Fixtures for GenEval's rules. Every expected value below was derived by hand
// from upstream's evaluate_images.py / summary_scores.py; the derivation is in
// the comment next to it.
#include "reca/eval/geneval_rules.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gtest/gtest.h"

// numpy_cases.json: tools/geneval_numpy_cases.py's record of what numpy
// computes for upstream's rules (CMake passes the source path; Bazel runs
// from the workspace root).
#ifndef RECA_GENEVAL_TESTDATA
#define RECA_GENEVAL_TESTDATA "reca/eval/geneval_rules_testdata"
#endif

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

// The three places where upstream's float32 numpy arithmetic decides the
// verdict, derived by hand (numpy 1.24 confirmed each value).

TEST(GenEvalUpstreamArithmeticTest, AScoreOfExactlyFloat32ThresholdIsNotAbove) {
  // Upstream compares its float32 scores with float32(0.3): a detection that
  // scored float32(0.3) = 0.30000001192092896 is not above the threshold,
  // though it is above 0.3 in double. One float32 step more is.
  const double f32_03 = static_cast<double>(0.3f);
  ASSERT_GT(f32_03, 0.3);
  GenEvalMetadata m{"single_object", "a photo of a dog", {C("dog")}, {}};
  EXPECT_FALSE(Judge(m, {{"dog", {D(f32_03)}}}).correct);
  EXPECT_TRUE(Judge(m, {{"dog", {D(std::nextafter(0.3f, 1.0f))}}}).correct);
  // The same for counting's 0.9: float32(0.9) = 0.89999997615814209 is below
  // 0.9 in double and equal in float32; the next float32 is above.
  GenEvalMetadata three{"counting", "", {C("dog", 1)}, {C("dog", 2)}};
  EXPECT_FALSE(Judge(three, {{"dog", {D(static_cast<double>(0.9f))}}}).correct);
  EXPECT_TRUE(Judge(three, {{"dog", {D(std::nextafter(0.9f, 1.0f))}}}).correct);
  // A user threshold is rounded the same way.
  GenEvalOptions o;
  o.threshold = 0.5;
  EXPECT_EQ(
      FilterGenEvalDetections({{"dog", {D(0.5), D(0.50000001)}}}, "colors", o)
          .count("dog"),
      0u);  // 0.50000001 is float32 0.5
}

TEST(GenEvalUpstreamArithmeticTest, PositionIsFloat32AtTheHalfBorder) {
  // A = [161.0, 152.7, 203.0, 178.5], B = [100, 100, 200, 200]. In real
  // numbers: x offset 182 - 150 = 32, dead zone 0.1 * (42 + 100) = 14.2,
  // shrunk 17.8; y offset 165.6 - 150 = 15.6; |offset| = sqrt(32^2 + 15.6^2)
  // = 35.6, so dx = 17.8 / 35.6 = 0.5 exactly: on the border.
  // Upstream, in float32: 152.7 is 152.69999695, but the centre's sum
  // 152.69999695 + 178.5 rounds up to 331.20001, so oy = 15.600006,
  // |offset| = 35.600002 and dx = 17.8 / 35.600002 = 0.49999994: not right of.
  // (In double on the same coordinates oy = 15.5999985, |offset| = 35.5999993
  // and dx = 0.50000001: "right of".)
  const Box a = {161.0, 152.7, 203.0, 178.5}, b = {100, 100, 200, 200};
  EXPECT_EQ(GenEvalRelativePosition(a, b), Rel());
  GenEvalMetadata m{"position",
                    "a photo of a dog right of a bench",
                    {C("bench"), Placed("dog", "right of", 0)},
                    {}};
  GenEvalImageResult r =
      Judge(m, {{"bench", {D(0.9, b)}}, {"dog", {D(0.9, a)}}});
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected dog right of target, found  target");
}

TEST(GenEvalUpstreamArithmeticTest, TiedScoresInNumpysOrder) {
  // np.argsort([.5, .7, .5, .7, .5]) (an insertion sort at this size, so
  // stable) is [0, 2, 4, 1, 3]; reversed, ties come out in reverse input
  // order: [3, 1, 4, 2, 0].
  EXPECT_EQ(GenEvalScoreOrder({0.5f, 0.7f, 0.5f, 0.7f, 0.5f}),
            std::vector<size_t>({3, 1, 4, 2, 0}));
  // 17 equal scores are one more than the insertion sort takes: numpy
  // partitions once (median of 0, 8 and 16, pivot parked at 15, ...) and
  // argsort gives [0, 14, 13, 12, 11, 10, 9, 15, 8, 6, 5, 4, 3, 2, 1, 7, 16].
  EXPECT_EQ(GenEvalScoreOrder(std::vector<float>(17, 0.5f)),
            std::vector<size_t>(
                {16, 7, 1, 2, 3, 4, 5, 6, 8, 15, 9, 10, 11, 12, 13, 14, 0}));
  // So with two equally confident cars, upstream judges the colour of the
  // one listed last.
  GenEvalMetadata m{
      "colors", "a photo of a red car", {Colored("car", "red")}, {}};
  GenEvalImageResult r =
      Judge(m, {{"car", {D(0.8, {}, "red"), D(0.8, {}, "blue")}}});
  EXPECT_FALSE(r.correct);
  EXPECT_EQ(r.reason, "expected red car>=1, found 0 red; and 1 blue");
  EXPECT_TRUE(
      Judge(m, {{"car", {D(0.8, {}, "blue"), D(0.8, {}, "red")}}}).correct);
}

TEST(GenEvalUpstreamArithmeticTest, IouSubtractsInFloat32) {
  // A = [0.1, 0, 10.1, 10], B = [0, 0, 10, 10]. Upstream's box[2] - box[0] is
  // a float32 difference: 10.1f - 0.1f = 10.00000038 rounds to 10, so A is
  // (10 + 1) x 11 = 121 pixels like B (in double on the same coordinates it
  // would be 121.0000042). Overlap: (10 - 0.1f = 9.9f = 9.89999962, + 1 in
  // float64) x 11. IoU = overlap / (121 + 121 - overlap) = 0.981981913867919
  // (numpy); all-double arithmetic gives 0.9819819481003151.
  const double overlap = (static_cast<double>(10.0f - 0.1f) + 1.0) * 11.0;
  EXPECT_EQ(GenEvalIou({0.1, 0, 10.1, 10}, {0, 0, 10, 10}),
            overlap / (121.0 + 121.0 - overlap));
  EXPECT_NEAR(GenEvalIou({0.1, 0, 10.1, 10}, {0, 0, 10, 10}), 0.981981913867919,
              1e-15);
}

TEST(GenEvalOptionsTest, ValidationNamesTheFlag) {
  EXPECT_TRUE(ValidateGenEvalOptions({}).ok());
  auto message = [](GenEvalOptions o) {
    return std::string(ValidateGenEvalOptions(o).message());
  };
  GenEvalOptions o;
  o.threshold = 1.5;
  EXPECT_EQ(message(o), "--geneval_threshold: must be a number in [0, 1]");
  o = {};
  o.counting_threshold = -0.1;
  EXPECT_EQ(message(o),
            "--geneval_counting_threshold: must be a number in [0, 1]");
  o = {};
  o.max_objects = -1;
  EXPECT_EQ(message(o), "--geneval_max_objects: must be >= 0");
  o = {};
  o.max_overlap = std::nan("");
  EXPECT_EQ(message(o), "--geneval_max_overlap: must be a number in [0, 1]");
  o = {};
  o.position_threshold = 2;
  EXPECT_EQ(message(o),
            "--geneval_position_threshold: must be a number in [0, 1]");
  EXPECT_EQ(ValidateGenEvalOptions(o).code(), StatusCode::kInvalidArgument);
}

// Replays numpy_cases.json: every case must come out exactly as numpy had it.
class GenEvalNumpyCasesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(std::string(RECA_GENEVAL_TESTDATA) + "/numpy_cases.json");
    ASSERT_TRUE(in) << RECA_GENEVAL_TESTDATA << "/numpy_cases.json";
    std::stringstream text;
    text << in.rdbuf();
    cases_ = new nlohmann::json(nlohmann::json::parse(text.str()));
  }
  static void TearDownTestSuite() {
    delete cases_;
    cases_ = nullptr;
  }
  static const nlohmann::json& Cases(const char* kind) {
    return (*cases_)[kind];
  }
  static Box ToBox(const nlohmann::json& j) {
    return {j[0].get<double>(), j[1].get<double>(), j[2].get<double>(),
            j[3].get<double>()};
  }

  static nlohmann::json* cases_;
};
nlohmann::json* GenEvalNumpyCasesTest::cases_ = nullptr;

TEST_F(GenEvalNumpyCasesTest, ScoreOrderIsArgsortReversed) {
  int unstable = 0, heapsort = 0, n = 0;
  for (const auto& c : Cases("order")) {
    std::vector<float> scores;
    for (const auto& s : c["scores"])
      scores.push_back(static_cast<float>(s.get<double>()));
    EXPECT_EQ(GenEvalScoreOrder(scores), c["order"].get<std::vector<size_t>>())
        << "scores " << c["scores"].dump();
    unstable += c["differs_from_stable"].get<bool>();
    heapsort += c["heapsort"].get<bool>();
    ++n;
  }
  EXPECT_GE(n, 100);
  EXPECT_GE(unstable, 50);  // a stable sort would fail these
  EXPECT_GE(heapsort, 3);   // numpy's heapsort fallback, reached on purpose
}

TEST_F(GenEvalNumpyCasesTest, FilterKeepsWhatUpstreamKeeps) {
  int wide = 0, n = 0;
  for (const auto& c : Cases("filter")) {
    GenEvalOptions o;
    o.threshold = c["threshold"].get<double>();
    o.counting_threshold = c["counting_threshold"].get<double>();
    o.max_objects = c["max_objects"].get<int>();
    o.max_overlap = c["max_overlap"].get<double>();
    GenEvalDetections raw;
    std::vector<GenEvalDetection>& dets = raw["x"];
    for (const auto& row : c["detections"]) {
      // The colour carries the detection's index.
      dets.push_back(
          D(row[4].get<double>(), ToBox(row), std::to_string(dets.size())));
    }
    const GenEvalDetections kept =
        FilterGenEvalDetections(raw, c["tag"].get<std::string>(), o);
    std::vector<int> got;
    if (auto it = kept.find("x"); it != kept.end()) {
      for (const GenEvalDetection& d : it->second)
        got.push_back(std::stoi(d.color));
    }
    EXPECT_EQ(got, c["kept"].get<std::vector<int>>()) << c.dump();
    wide += c["float64_differs"].get<bool>();
    ++n;
  }
  EXPECT_GE(n, 100);
  EXPECT_GE(wide, 10);  // float64 and a stable sort would fail these
}

TEST_F(GenEvalNumpyCasesTest, RelativePositionAtTheBorders) {
  int wide = 0, n = 0;
  for (const auto& c : Cases("position")) {
    Rel want;
    for (const auto& r : c["relations"]) want.insert(r.get<std::string>());
    EXPECT_EQ(GenEvalRelativePosition(ToBox(c["a"]), ToBox(c["b"]),
                                      c["position_threshold"].get<double>()),
              want)
        << c.dump();
    wide += c["float64_differs"].get<bool>();
    ++n;
  }
  EXPECT_GE(n, 300);
  EXPECT_GE(wide, 100);  // float64 arithmetic would fail these
}

TEST_F(GenEvalNumpyCasesTest, IouBitForBit) {
  int wide = 0, n = 0;
  for (const auto& c : Cases("iou")) {
    EXPECT_EQ(GenEvalIou(ToBox(c["a"]), ToBox(c["b"])), c["iou"].get<double>())
        << c.dump();
    wide += c["float64_differs"].get<bool>();
    ++n;
  }
  EXPECT_GE(n, 100);
  EXPECT_GE(wide, 20);  // float64 differences would fail these
}

}  // namespace
}  // namespace reca
