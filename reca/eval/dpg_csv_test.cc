// Reading DPG-Bench's dpg_bench.csv as upstream's prepare_dpg_data does.
// dpg_testdata/dpg_bench.csv is hand-written in upstream's column layout:
// three prompts (cat_sofa is dpg_test's CatOnSofa), quoted fields with commas,
// doubled quotes and a line break. Expected scores are derived by hand from
// compute_dpg_bench.py (derivations next to each value).
#include "reca/eval/dpg_csv.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

// CMake passes the source path; Bazel runs from the workspace root.
#ifndef RECA_DPG_TESTDATA
#define RECA_DPG_TESTDATA "reca/eval/dpg_testdata"
#endif

namespace reca {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(RECA_DPG_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << RECA_DPG_TESTDATA << "/" << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<int> Ids(const DpgPrompt& p) {
  std::vector<int> ids;
  for (const DpgQuestion& q : p.questions) ids.push_back(q.id);
  return ids;
}

StatusOr<DpgSummary> Score(const DpgCsvQuestions& q) {
  auto answers = ParseDpgAnswers(Fixture("dpg_answers.json"));
  if (!answers.ok()) return answers.status();
  return AggregateDpg(q.prompts, *answers);
}

TEST(DpgCsvTest, ReadsUpstreamsLayoutSkippingTheFirstRowAsUpstreamDoes) {
  auto q = ParseDpgBenchCsv(Fixture("dpg_bench.csv"));
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->prompts.size(), 3u);
  const DpgPrompt& cat = q->prompts[0];
  EXPECT_EQ(cat.item_id, "cat_sofa");
  // Row 1 (cat_sofa proposition 1) is skipped, as `if i == 0: continue`.
  EXPECT_EQ(Ids(cat), std::vector<int>({2, 3, 4, 5}));
  EXPECT_EQ(cat.dropped_by_upstream, std::vector<int>({1}));
  EXPECT_EQ(cat.questions[2].parents, std::vector<int>({1, 3}));
  EXPECT_EQ(cat.questions[0].tuple, "attribute - color (cat, black)");
  EXPECT_EQ(cat.questions[0].question, "Is the cat black?");
  EXPECT_EQ(cat.text, "A black cat sleeps on a leather sofa.");
  const DpgPrompt& dog = q->prompts[1];
  EXPECT_EQ(dog.text, "A watercolor of a dog, \"happy\" and brown.");
  EXPECT_EQ(Ids(dog), std::vector<int>({1, 2, 3}));
  EXPECT_TRUE(dog.dropped_by_upstream.empty());
  EXPECT_EQ(dog.questions[2].parents, std::vector<int>({2}));
  const DpgPrompt& lamp = q->prompts[2];
  EXPECT_EQ(lamp.text, "A lamp\non a desk.");
  EXPECT_EQ(lamp.questions[2].parents, std::vector<int>({1, 2}));
  EXPECT_EQ(lamp.questions[2].tuple, "relation - spatial (lamp, desk, on)");
  ASSERT_EQ(q->notes.size(), 1u);
  EXPECT_NE(q->notes[0].find("line 2: skipped"), std::string::npos)
      << q->notes[0];

  // Scored as upstream scores it: cat_sofa's question 2 depends on the
  // skipped 1, so the zeroing pass raises KeyError on every image and the
  // prompt is left out. dog: image 1 raw 1 1 0 -> 2/3; image 2 raw 0 0 1,
  // 3 depends on 2 ("no") -> 0; prompt 1/3. lamp: 1. Overall (1/3 + 1) / 2.
  // Categories, un-zeroed answers of each prompt's last image: dog global -
  // style 0, entity - whole 0, attribute - color 1; lamp entity - whole 1, 1,
  // relation - spatial 1. L2: entity - whole 2/3, global - style 0,
  // attribute - color 1, relation - spatial 1.
  auto s = Score(*q);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->prompts, 2);
  ASSERT_EQ(s->failed.count("cat_sofa"), 1u);
  EXPECT_NE(s->failed.at("cat_sofa").find("depends on question 1"),
            std::string::npos);
  EXPECT_NEAR(s->score, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(s->per_prompt.at("dog").score, 1.0 / 3.0, 1e-12);
  EXPECT_EQ(s->per_prompt.count("cat_sofa"), 0u);
  EXPECT_NEAR(s->l2_categories.at("entity - whole"), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(s->l2_categories.at("global - style"), 0.0);
  EXPECT_EQ(s->l2_categories.at("attribute - color"), 1.0);
  EXPECT_EQ(s->l2_categories.at("relation - spatial"), 1.0);
  EXPECT_EQ(s->l2_categories.count("attribute - texture"), 0u);
  EXPECT_NEAR(s->l1_categories.at("entity"), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(s->l1_categories.at("global"), 0.0);
}

TEST(DpgCsvTest, KeepFirstRowReadsEveryQuestion) {
  auto q =
      ParseDpgBenchCsv(Fixture("dpg_bench.csv"), {/*keep_first_row=*/true});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(Ids(q->prompts[0]), std::vector<int>({1, 2, 3, 4, 5}));
  EXPECT_TRUE(q->prompts[0].dropped_by_upstream.empty());
  EXPECT_TRUE(q->notes.empty());
  // cat_sofa as dpg_test's ChildrenOfNoParentsScoreZero: 0.3. Overall
  // (0.3 + 1/3 + 1) / 3. L2 entity - whole: cat_sofa 0 (cat), 1 (sofa), dog 0,
  // lamp 1, 1 -> 3/5; attribute - color: 1 (cat), 1 (dog); attribute -
  // texture 0; L1 attribute (1 + 1 + 0) / 3.
  auto s = Score(*q);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->prompts, 3);
  EXPECT_TRUE(s->failed.empty());
  EXPECT_NEAR(s->per_prompt.at("cat_sofa").score, 0.3, 1e-12);
  EXPECT_NEAR(s->score, (0.3 + 1.0 / 3.0 + 1.0) / 3.0, 1e-12);
  EXPECT_NEAR(s->l2_categories.at("entity - whole"), 0.6, 1e-12);
  EXPECT_EQ(s->l2_categories.at("attribute - color"), 1.0);
  EXPECT_EQ(s->l2_categories.at("attribute - texture"), 0.0);
  EXPECT_NEAR(s->l1_categories.at("attribute"), 2.0 / 3.0, 1e-12);
}

TEST(DpgCsvTest, QuestionsFileRoundTrip) {
  auto q = ParseDpgBenchCsv(Fixture("dpg_bench.csv"));
  ASSERT_TRUE(q.ok()) << q.status();
  auto again = ParseDpgQuestions(DpgQuestionsToJson(q->prompts));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 3u);
  for (size_t i = 0; i < again->size(); ++i) {
    const DpgPrompt &a = q->prompts[i], &b = (*again)[i];
    EXPECT_EQ(a.item_id, b.item_id);
    EXPECT_EQ(a.text, b.text);
    EXPECT_EQ(a.dropped_by_upstream, b.dropped_by_upstream);
    ASSERT_EQ(a.questions.size(), b.questions.size());
    for (size_t k = 0; k < a.questions.size(); ++k) {
      EXPECT_EQ(a.questions[k].id, b.questions[k].id);
      EXPECT_EQ(a.questions[k].parents, b.questions[k].parents);
      EXPECT_EQ(a.questions[k].tuple, b.questions[k].tuple);
      EXPECT_EQ(a.questions[k].question, b.questions[k].question);
    }
  }
}

constexpr const char* kHeader =
    "item_id,text,keywords,proposition_id,dependency,category_broad,"
    "category_detailed,tuple,question_natural_language\r\n";

TEST(DpgCsvTest, UpstreamsDictSemantics) {
  // CRLF line ends, a BOM, a blank line. Row 1 (x 9) is skipped. Then x
  // (1, 2, 1 again), y, x again: x's second group replaces its first (in its
  // place), and the repeated 1 overwrites the earlier 1 in its place.
  const std::string csv = std::string("\xEF\xBB\xBF") + kHeader +
                          "x,,,9,0,,,t - a (x),q9\r\n"
                          "x,,,1,0,,,t - a (x),q1\r\n"
                          "x,,,2,1,,,t - b (x),q2\r\n"
                          "\r\n"
                          "x,,,1,0,,,t - c (x),q1 again\r\n"
                          "y,,,1,0,,,t - a (y),y1\r\n"
                          "x,,,3,0,,,t - a (x),x3\r\n"
                          "x,,,4,3,,,t - a (x),x4\r\n";
  auto q = ParseDpgBenchCsv(csv);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->prompts.size(), 2u);
  EXPECT_EQ(q->prompts[0].item_id, "x");
  EXPECT_EQ(Ids(q->prompts[0]), std::vector<int>({3, 4}));
  EXPECT_EQ(q->prompts[0].dropped_by_upstream, std::vector<int>({9}));
  EXPECT_EQ(q->prompts[1].item_id, "y");
  EXPECT_EQ(q->notes.size(), 3u);  // skipped, repeated 1, x comes back
  // Without the skip and the comeback: 9, 1 (overwritten: "t - c"), 2.
  const std::string short_csv = std::string(kHeader) +
                                "x,,,9,0,,,t - a (x),q9\n"
                                "x,,,1,0,,,t - a (x),q1\n"
                                "x,,,2,1,,,t - b (x),q2\n"
                                "x,,,1,0,,,t - c (x),q1 again\n";
  q = ParseDpgBenchCsv(short_csv, {true});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(Ids(q->prompts[0]), std::vector<int>({9, 1, 2}));
  EXPECT_EQ(q->prompts[0].questions[1].tuple, "t - c (x)");
  EXPECT_EQ(q->prompts[0].questions[1].question, "q1 again");
}

TEST(DpgCsvTest, ErrorsNameTheLine) {
  auto error = [](const std::string& csv, bool keep = true) {
    auto q = ParseDpgBenchCsv(csv, {keep});
    EXPECT_FALSE(q.ok());
    return q.ok() ? std::string() : std::string(q.status().message());
  };
  EXPECT_NE(error("item_id,proposition_id,dependency,tuple\nx,1,0,t\n")
                .find("no column \"question_natural_language\""),
            std::string::npos);
  EXPECT_NE(error(std::string(kHeader) + "x,\"open,,1,0,,,t,q\n")
                .find("line 2: a quoted field is not closed"),
            std::string::npos);
  EXPECT_NE(error(std::string(kHeader) + "x,,,1,0,,,t,q,extra\n")
                .find("line 2: 10 fields, the header has 9"),
            std::string::npos);
  EXPECT_NE(error(std::string(kHeader) + "x,,,1,\"0,a\",,,t,q\n")
                .find("line 2: dependency '0,a'"),
            std::string::npos);
  EXPECT_NE(error(std::string(kHeader) + "x,,,one,0,,,t,q\n")
                .find("line 2: proposition_id 'one'"),
            std::string::npos);
  EXPECT_NE(error(std::string(kHeader) + "x,,,1,0,,,,q\n").find("no tuple"),
            std::string::npos);
  // Upstream skips the first row; if it was its item's only one, that item
  // cannot be scored at all.
  EXPECT_NE(error(std::string(kHeader) + "x,,,1,0,,,t,q\ny,,,1,0,,,t,q\n",
                  /*keep=*/false)
                .find("--dpg_keep_first_row"),
            std::string::npos);
  // A proposition_id pandas read as a float is still an integer.
  auto q = ParseDpgBenchCsv(std::string(kHeader) + "x,,,2.0,0,,,t,q\n", {true});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->prompts[0].questions[0].id, 2);
}

}  // namespace
}  // namespace reca
