#include "reca/eval/shapes_eval.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "gtest/gtest.h"
#include "reca/rng.h"
#include "reca/tokenizer.h"

namespace reca {
namespace {

TEST(ShapesEvalPromptsTest, FixedSetInVocabulary) {
  const std::vector<ShapesEvalPrompt> prompts = ShapesEvalPrompts();
  ASSERT_EQ(prompts.size(), 6u * kDefaultShapesEvalPromptsPerTag);
  Tokenizer tok;
  std::vector<std::set<std::string>> distinct(6);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const ShapesEvalPrompt& p = prompts[i];
    EXPECT_EQ(p.index, static_cast<int>(i));
    EXPECT_EQ(p.metadata.tag, ShapesEvalTags()[p.tag_index]);
    EXPECT_EQ(p.metadata.prompt, p.text);
    const std::vector<int64_t> ids =
        tok.Encode(std::string(kT2IPrefix) + " " + p.text);
    for (int64_t id : ids) EXPECT_NE(id, Tokenizer::kUnk) << p.text;
    EXPECT_LE(ids.size(), 39u)
        << p.text;  // fits the tiny model's 40 text tokens with <assistant>
    distinct[p.tag_index].insert(p.text);
  }
  // single_object has only the 5 kinds; two_object 20 ordered pairs;
  // counting 5 kinds x 3 counts; colors 50; position and color_attr more
  // than 50.
  EXPECT_EQ(distinct[0].size(), 5u);
  EXPECT_EQ(distinct[1].size(), 20u);
  EXPECT_EQ(distinct[2].size(), 15u);
  EXPECT_EQ(distinct[3].size(), 50u);
  EXPECT_EQ(distinct[4].size(), 50u);
  EXPECT_EQ(distinct[5].size(), 50u);
  // A smaller set is a prefix of each tag's list.
  const std::vector<ShapesEvalPrompt> few = ShapesEvalPrompts(3);
  ASSERT_EQ(few.size(), 18u);
  for (const ShapesEvalPrompt& p : few) {
    EXPECT_EQ(
        p.text,
        prompts[p.tag_index * kDefaultShapesEvalPromptsPerTag + p.index_in_tag]
            .text);
  }
}

TEST(ShapesEvalPromptsTest, MetadataFollowsUpstreamShapes) {
  for (const ShapesEvalPrompt& p : ShapesEvalPrompts(20)) {
    const GenEvalMetadata& m = p.metadata;
    if (m.tag == "counting") {
      ASSERT_EQ(m.include.size(), 1u);
      ASSERT_EQ(m.exclude.size(), 1u);
      EXPECT_EQ(m.exclude[0].count, m.include[0].count + 1);
    } else if (m.tag == "position") {
      ASSERT_EQ(m.include.size(), 2u);
      ASSERT_TRUE(m.include[1].position.has_value());
      EXPECT_EQ(m.include[1].position->second, 0);
    } else if (m.tag == "color_attr") {
      ASSERT_EQ(m.include.size(), 2u);
      EXPECT_TRUE(m.include[0].color && m.include[1].color);
    }
    // Round trip through upstream's JSON form.
    auto parsed = ParseGenEvalMetadataJsonl(GenEvalMetadataToJson(m));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ((*parsed)[0].include.size(), m.include.size());
  }
}

TEST(ShapesEvalScoreTest, ReferenceScenesScoreFullAndBlankScoresZero) {
  const std::vector<ShapesEvalPrompt> prompts = ShapesEvalPrompts();
  ShapesDetector detector;
  std::vector<GenEvalScoredImage> good, blank;
  Scene empty;
  empty.image_size = 32;
  const std::vector<uint8_t> blank_px = ShapesWorld::Render(empty);
  for (const ShapesEvalPrompt& p : prompts) {
    for (int size : {32, 64}) {
      for (uint64_t v = 0; v < (size == 32 ? 3u : 1u); ++v) {
        const Scene scene = ShapesEvalReferenceScene(p, size, v);
        const ShapesEvalImageScore s = ScoreShapesEvalImage(
            p, ShapesWorld::Render(scene), size, size, detector);
        EXPECT_TRUE(s.correct)
            << p.text << " (" << size << ", variant " << v << "): " << s.reason;
        good.push_back({p.index, p.metadata.tag, s.correct});
      }
    }
    const ShapesEvalImageScore b =
        ScoreShapesEvalImage(p, blank_px, 32, 32, detector);
    EXPECT_FALSE(b.correct);
    blank.push_back({p.index, p.metadata.tag, b.correct});
  }
  const GenEvalSummary g = SummarizeGenEval(good), z = SummarizeGenEval(blank);
  std::printf(
      "ShapesEval on reference scenes: overall %.4f (%d images); on blank "
      "images: %.4f\n",
      g.overall, g.images, z.overall);
  ASSERT_EQ(g.tags.size(), 6u);
  EXPECT_EQ(g.overall, 1.0);
  EXPECT_EQ(z.overall, 0.0);
}

TEST(ShapesEvalScoreTest, NoisyReferenceScenesStillScore) {
  // +-20 per channel of pixel noise: detections stay above even the counting
  // threshold (0.9), so every tag still scores.
  Rng rng(3);
  std::vector<GenEvalScoredImage> scored;
  for (const ShapesEvalPrompt& p : ShapesEvalPrompts()) {
    std::vector<uint8_t> px =
        ShapesWorld::Render(ShapesEvalReferenceScene(p, 32, 5));
    for (uint8_t& v : px)
      v = static_cast<uint8_t>(
          std::clamp<int>(v + static_cast<int>(rng.Between(-20, 20)), 0, 255));
    scored.push_back(
        {p.index, p.metadata.tag, ScoreShapesEvalImage(p, px, 32, 32).correct});
  }
  const GenEvalSummary s = SummarizeGenEval(scored);
  std::printf("ShapesEval on noisy reference scenes: overall %.4f\n",
              s.overall);
  for (const GenEvalTagScore& t : s.tags) EXPECT_GE(t.accuracy, 0.95) << t.tag;
}

TEST(ShapesEvalScoreTest, ReferenceScenesMatchTheTextAbsolutely) {
  // The position prompts' absolute phrases hold in their reference scenes
  // (the shapes world's own 3x3 position words).
  for (const ShapesEvalPrompt& p : ShapesEvalPrompts()) {
    if (p.metadata.tag != "position") continue;
    const Scene scene = ShapesEvalReferenceScene(p, 32, 1);
    ASSERT_EQ(scene.shapes.size(), 2u);
    const std::string a = ShapesWorld::PositionPhrase(scene.shapes[0].box, 32);
    const std::string b = ShapesWorld::PositionPhrase(scene.shapes[1].box, 32);
    EXPECT_NE(p.text.find(std::string(ShapeKindName(scene.shapes[0].kind)) +
                          " " + a + " and"),
              std::string::npos)
        << p.text << " vs " << a;
    EXPECT_NE(p.text.find(std::string(ShapeKindName(scene.shapes[1].kind)) +
                          " " + b + " ."),
              std::string::npos)
        << p.text << " vs " << b;
  }
}

TEST(ShapesEvalScoreTest, WrongScenesFail) {
  // A counting prompt's scene with one shape removed, and a position prompt's
  // scene with its two shapes swapped, are wrong.
  for (const ShapesEvalPrompt& p : ShapesEvalPrompts(10)) {
    if (p.metadata.tag != "counting" && p.metadata.tag != "position") continue;
    Scene scene = ShapesEvalReferenceScene(p, 32, 0);
    if (p.metadata.tag == "counting") {
      scene.shapes.pop_back();
    } else {
      std::swap(scene.shapes[0].box, scene.shapes[1].box);
    }
    const ShapesEvalImageScore s =
        ScoreShapesEvalImage(p, ShapesWorld::Render(scene), 32, 32);
    EXPECT_FALSE(s.correct) << p.text;
    EXPECT_FALSE(s.reason.empty());
  }
}

}  // namespace
}  // namespace reca
