// DPG-Bench aggregation fixtures; expected values derived by hand from
// upstream's compute_dpg_bench.py (derivations next to each value).
#include "reca/eval/dpg.h"

#include "gtest/gtest.h"

namespace reca {
namespace {

DpgPrompt CatOnSofa() {
  // 1 cat, 2 black cat (needs 1), 3 sofa, 4 cat on sofa (needs 1 and 3),
  // 5 leather sofa (needs 3).
  return DpgPrompt{
      "cat_sofa",
      {{1, {0}, "entity - whole (cat)", "Is there a cat?"},
       {2, {1}, "attribute - color (cat, black)", "Is the cat black?"},
       {3, {0}, "entity - whole (sofa)", "Is there a sofa?"},
       {4,
        {1, 3},
        "relation - spatial (cat, sofa, on)",
        "Is the cat on the sofa?"},
       {5,
        {3},
        "attribute - texture (sofa, leather)",
        "Is the sofa leather?"}}};
}

DpgPrompt Dog() {
  return DpgPrompt{"dog",
                   {{1, {0}, "global - style (watercolor)", ""},
                    {2, {0}, "entity - whole (dog)", ""}}};
}

TEST(DpgTest, ChildrenOfNoParentsScoreZero) {
  // Image 1: raw 1 1 0 1 1; sofa (3) is "no", so 4 and 5 drop: 1 1 0 0 0 ->
  // 2/5. Image 2: raw 0 1 1 1 0; cat (1) is "no", so 2 and 4 drop: 0 0 1 0 0 ->
  // 1/5. Prompt: (0.4 + 0.2) / 2 = 0.3.
  std::vector<DpgAnswers> images = {
      {{1, "yes"}, {2, "yes"}, {3, "no"}, {4, "yes"}, {5, "yes"}},
      {{1, "no"}, {2, "yes"}, {3, "yes"}, {4, "yes"}, {5, "no"}}};
  auto s = ScoreDpgPrompt(CatOnSofa(), images);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->image_scores.size(), 2u);
  EXPECT_NEAR(s->image_scores[0], 0.4, 1e-12);
  EXPECT_NEAR(s->image_scores[1], 0.2, 1e-12);
  EXPECT_NEAR(s->score, 0.3, 1e-12);
  // The un-zeroed answers of the last image.
  EXPECT_EQ(s->last_raw.at(2), 1.0);
  EXPECT_EQ(s->last_raw.at(4), 1.0);
}

TEST(DpgTest, PropagationFollowsQuestionOrder) {
  // Chain 1 <- 2 <- 3, answers no / yes / yes. Listed parents-first: 2 drops
  // because 1 is "no", then 3 drops because 2 is now 0: score 0.
  DpgPrompt chain{"chain",
                  {{1, {0}, "", ""}, {2, {1}, "", ""}, {3, {2}, "", ""}}};
  std::vector<DpgAnswers> a = {{{1, "no"}, {2, "yes"}, {3, "yes"}}};
  EXPECT_EQ(ScoreDpgPrompt(chain, a)->score, 0.0);
  // Listed 1, 3, 2: 3 is checked while 2 still holds its raw 1, so it stays;
  // then 2 drops: (0 + 1 + 0) / 3, exactly as upstream's single in-order pass.
  DpgPrompt reordered{"chain",
                      {{1, {0}, "", ""}, {3, {2}, "", ""}, {2, {1}, "", ""}}};
  EXPECT_NEAR(ScoreDpgPrompt(reordered, a)->score, 1.0 / 3.0, 1e-12);
}

TEST(DpgTest, AggregateOverPromptsAndCategories) {
  // cat_sofa: 0.3 (above). dog: "yes" and "Yes" -> only the exact "yes"
  // scores: 1/2. Benchmark: (0.3 + 0.5) / 2 = 0.4.
  // Categories from each prompt's last image, un-zeroed:
  //   cat_sofa image 2: entity-whole 0 (cat), 1 (sofa); attribute-color 1;
  //   relation-spatial 1; attribute-texture 0. dog: global-style 1,
  //   entity-whole 0. L2: entity - whole (0+1+0)/3, attribute - color 1,
  //   attribute - texture 0,
  //       relation - spatial 1, global - style 1.
  //   L1: entity 1/3, attribute (1+0)/2, relation 1, global 1.
  std::map<std::string, std::vector<DpgAnswers>> answers = {
      {"cat_sofa",
       {{{1, "yes"}, {2, "yes"}, {3, "no"}, {4, "yes"}, {5, "yes"}},
        {{1, "no"}, {2, "yes"}, {3, "yes"}, {4, "yes"}, {5, "no"}}}},
      {"dog", {{{1, "yes"}, {2, "Yes"}}}}};
  auto s = AggregateDpg({CatOnSofa(), Dog()}, answers);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(s->score, 0.4, 1e-12);
  EXPECT_EQ(s->prompts, 2);
  EXPECT_NEAR(s->per_prompt.at("dog").score, 0.5, 1e-12);
  EXPECT_NEAR(s->l2_categories.at("entity - whole"), 1.0 / 3.0, 1e-12);
  EXPECT_EQ(s->l2_categories.at("attribute - color"), 1.0);
  EXPECT_EQ(s->l2_categories.at("attribute - texture"), 0.0);
  EXPECT_EQ(s->l2_categories.at("relation - spatial"), 1.0);
  EXPECT_EQ(s->l2_categories.at("global - style"), 1.0);
  EXPECT_NEAR(s->l1_categories.at("entity"), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s->l1_categories.at("attribute"), 0.5, 1e-12);
  EXPECT_EQ(s->l1_categories.at("relation"), 1.0);
  EXPECT_EQ(s->l1_categories.at("global"), 1.0);
}

TEST(DpgTest, Errors) {
  EXPECT_FALSE(ScoreDpgPrompt(CatOnSofa(), {}).ok());  // no images
  EXPECT_FALSE(
      ScoreDpgPrompt(CatOnSofa(), {{{1, "yes"}}}).ok());  // missing answers
  EXPECT_FALSE(
      ScoreDpgPrompt(DpgPrompt{"x", {{1, {9}, "", ""}}}, {{{1, "yes"}}})
          .ok());                                // unknown parent
  EXPECT_FALSE(AggregateDpg({Dog()}, {}).ok());  // prompt without answers
  EXPECT_FALSE(AggregateDpg({}, {{"dog", {{{1, "yes"}}}}})
                   .ok());  // answers without prompt
}

TEST(DpgTest, ADroppedParentFailsThePromptWhenTheZeroingPassReachesIt) {
  // Upstream's CSV reading lost proposition 1 (dpg_csv.h). Question 2 depends
  // on 3, then 1. The pass checks 3 first: when 3 is "no", 2 is zeroed and
  // the loop breaks before touching 1, so the image scores (0 + 0) / 2. When
  // 3 is "yes", qid2scores[1] raises KeyError: the prompt fails.
  DpgPrompt p{"first",
              {{3, {0}, "entity - whole (a)", ""},
               {2, {3, 1}, "relation - spatial (a, b, on)", ""}}};
  p.dropped_by_upstream = {1};
  auto s = ScoreDpgPrompt(p, {{{3, "no"}, {2, "yes"}}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->failed.empty());
  EXPECT_EQ(s->score, 0.0);
  // The second image reaches 1: the whole prompt fails, as upstream's
  // exception drops the whole file.
  s = ScoreDpgPrompt(p, {{{3, "no"}, {2, "yes"}}, {{3, "yes"}, {2, "yes"}}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NE(s->failed.find("question 2 depends on question 1"),
            std::string::npos)
      << s->failed;
  EXPECT_TRUE(s->image_scores.empty());
  // Aggregated: left out of the score and the categories, and named.
  auto sum = AggregateDpg({p, Dog()}, {{"first", {{{3, "yes"}, {2, "yes"}}}},
                                       {"dog", {{{1, "yes"}, {2, "yes"}}}}});
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->prompts, 1);
  EXPECT_EQ(sum->score, 1.0);
  EXPECT_EQ(sum->failed.count("first"), 1u);
  EXPECT_EQ(sum->l2_categories.count("relation - spatial"), 0u);
  // Only listed ids are tolerated: a dropped id that is also asked is an error.
  p.dropped_by_upstream = {3};
  EXPECT_FALSE(ScoreDpgPrompt(p, {{{3, "no"}, {2, "yes"}}}).ok());
}

TEST(DpgTest, JsonForms) {
  auto prompts =
      ParseDpgQuestions(R"json({"prompts": [{"item_id": "dog", "questions": [
      {"id": 1, "parents": [0], "tuple": "global - style (watercolor)"},
      {"id": 2, "parents": [1], "tuple": "entity - whole (dog)", "question": "Is there a dog?"}]}]})json");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  ASSERT_EQ(prompts->size(), 1u);
  EXPECT_EQ((*prompts)[0].questions[1].parents, std::vector<int>({1}));
  auto answers = ParseDpgAnswers(
      R"({"dog": [{"1": "no", "2": "yes"}, {"1": "yes", "2": "yes"}]})");
  ASSERT_TRUE(answers.ok()) << answers.status();
  // Image 1: 1 is "no", 2 depends on it: 0. Image 2: 1. Prompt: 0.5.
  auto s = AggregateDpg(*prompts, *answers);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(s->score, 0.5, 1e-12);
  EXPECT_FALSE(ParseDpgAnswers(R"({"dog": [{"x": "yes"}]})").ok());
  EXPECT_FALSE(ParseDpgQuestions(R"({"prompts": [{"item_id": "a"}]})").ok());
  auto dropped = ParseDpgQuestions(
      R"json({"prompts": [{"item_id": "a", "text": "an a", "dropped_by_upstream": [1],
      "questions": [{"id": 2, "parents": [1], "tuple": "entity - whole (a)"}]}]})json");
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ((*dropped)[0].dropped_by_upstream, std::vector<int>({1}));
  EXPECT_EQ((*dropped)[0].text, "an a");
  EXPECT_FALSE(ParseDpgQuestions(
                   R"({"prompts": [{"item_id": "a", "questions": [],
                       "dropped_by_upstream": ["1"]}]})")
                   .ok());
}

}  // namespace
}  // namespace reca
