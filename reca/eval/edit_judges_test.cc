#include "reca/eval/edit_judges.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gtest/gtest.h"
#include "reca/eval/sidecar_suites.h"
#include "reca/file_util.h"

// The fixtures' folder: the source tree's under CMake, the runfiles' under
// Bazel (the test runs in the workspace root of its runfiles).
#ifndef RECA_EDIT_JUDGES_TESTDATA
#define RECA_EDIT_JUDGES_TESTDATA "reca/eval/edit_judges_testdata"
#endif

namespace reca {
namespace {

const std::string kData = RECA_EDIT_JUDGES_TESTDATA;

std::string Dir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string d = std::string(t ? t : "/tmp") + "/edit_judges_" + name + "_" +
                        std::to_string(::getpid());
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

std::string Write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  EXPECT_TRUE(WriteFileAtomic(path, text).ok());
  return path;
}

std::string Read(const std::string& path) {
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

void ExpectError(const Status& s, const std::string& want) {
  EXPECT_FALSE(s.ok()) << want;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find(want), std::string::npos) << s;
}

TEST(ImgEditTest, JudgeTextParsedAsUpstreamsStep1) {
  // Only "<name>: <digits>" lines with exactly one ": " count.
  EXPECT_EQ(ParseImgEditJudgeText("Brief reasoning: a: b\nPrompt Compliance: 4\n"
                                  "Visual Naturalness: 5\r\nPhysical & Detail Fidelity: 3"),
            (std::vector<int>{4, 5, 3}));
  EXPECT_EQ(ParseImgEditJudgeText("A: 4.5\nB:  3\nC: 3 \nD:5\n  E: 10  \nF: -1\nG: "),
            (std::vector<int>{3, 10}));  // "C: 3 " stripped; "B:  3" is " 3"
  EXPECT_TRUE(ParseImgEditJudgeText("no scores").empty());
  // Python's round(x, 2): ties to even on the exact binary value.
  EXPECT_DOUBLE_EQ(RoundHalfEven2(3.125), 3.12);
  EXPECT_DOUBLE_EQ(RoundHalfEven2(3.375), 3.38);
  EXPECT_DOUBLE_EQ(RoundHalfEven2(2.675), 2.67);  // 2.67499999...
  EXPECT_DOUBLE_EQ(RoundHalfEven2(14.0 / 3), 4.67);
}

// The fixture edit_judges_testdata/imgedit.jsonl, by hand with upstream's
// rules (checked against upstream's step1/step2 code in Python 3.11):
//   1 add    judge text: 4, 5, 5 ("Brief reasoning: ok: ..." has two ": ")
//            14/3 = 4.666.. -> 4.67
//   2 add    [3, 3, 4]   10/3 -> 3.33
//   3 alter  judge text: 2, 5 ("4.5" and " 3" are not digits; "Score: 5 "
//            after strip is) -> 7/2 = 3.5
//   4 alter  [1, 2, 2]   5/3 -> 1.67
//   5 remove no score -> unscored (upstream drops it)
//   6 (none) [5, 5, 4]   14/3 -> 4.67 (overall only)
//   7 remove [1, 1, 2]   4/3 -> 1.33
//   8 background [3 x7, 4] 25/8 = 3.125 -> 3.12 (a tie, to even)
// Types: add (4.67 + 3.33)/2 = 4.0; alter (3.5 + 1.67)/2 = 2.585, whose
// double is 2.58499.. -> 2.58; remove 1.33; background 3.12.
// Overall (BAGEL's step2): (4.67 + 3.33 + 3.5 + 1.67 + 4.67 + 1.33 + 3.12)/7
// = 22.29/7 = 3.184.. -> 3.18. Mean of types (4 + 2.58 + 1.33 + 3.12)/4
// = 2.7575.
TEST(ImgEditTest, FixtureAggregatesAsUpstream) {
  const std::string path = kData + "/imgedit.jsonl";
  auto samples = ParseImgEditJsonl(Read(path), path);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 8u);
  EXPECT_EQ((*samples)[0].scores, (std::vector<int>{4, 5, 5}));
  EXPECT_EQ((*samples)[2].scores, (std::vector<int>{2, 5}));
  EXPECT_EQ((*samples)[5].origin, path + ":8");
  auto s = AggregateImgEdit(*samples);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->overall, 3.18);
  EXPECT_EQ(s->samples, 7);
  ASSERT_EQ(s->unscored.size(), 1u);
  EXPECT_EQ(s->unscored[0], path + ":6");
  ASSERT_EQ(s->types.size(), 4u);
  EXPECT_EQ(s->types[0].edit_type, "add");
  EXPECT_EQ(s->types[0].score, 4.0);
  EXPECT_EQ(s->types[0].samples, 2);
  EXPECT_EQ(s->types[1].edit_type, "alter");
  EXPECT_EQ(s->types[1].score, 2.58);
  EXPECT_EQ(s->types[2].edit_type, "remove");
  EXPECT_EQ(s->types[2].score, 1.33);
  EXPECT_EQ(s->types[2].samples, 1);
  EXPECT_EQ(s->types[3].edit_type, "background");
  EXPECT_EQ(s->types[3].score, 3.12);
  EXPECT_DOUBLE_EQ(s->mean_of_types, (4.0 + 2.58 + 1.33 + 3.12) / 4);
}

// Upstream's own files (edit_judges_testdata/imgedit_result.json and
// imgedit_basic_edit.json, from upstream's README example):
//   1082 alter [1, 1, 1] -> 1.0;  1068 alter [1, 4, 4] -> 3.0;
//   673 style [1, 5, 5] -> 11/3 -> 3.67;  9999 (not in the metadata)
//   [5, 5, 4] -> 4.67.
// alter (1 + 3)/2 = 2.0; style 3.67; overall (1 + 3 + 3.67 + 4.67)/4
// = 12.34/4 = 3.085, whose double is 3.08499.. -> 3.08.
TEST(ImgEditTest, UpstreamFilesAggregateAsUpstream) {
  const std::string rp = kData + "/imgedit_result.json", mp = kData + "/imgedit_basic_edit.json";
  auto samples = ParseImgEditUpstream(Read(rp), rp, Read(mp), mp);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 4u);
  EXPECT_EQ((*samples)[0].key, "1082");
  EXPECT_EQ((*samples)[0].origin, rp + ":2: key \"1082\"");
  EXPECT_EQ((*samples)[3].edit_type, "");
  auto s = AggregateImgEdit(*samples);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->overall, 3.08);
  ASSERT_EQ(s->types.size(), 2u);
  EXPECT_EQ(s->types[0].edit_type, "alter");
  EXPECT_EQ(s->types[0].score, 2.0);
  EXPECT_EQ(s->types[1].edit_type, "style");
  EXPECT_EQ(s->types[1].score, 3.67);
}

TEST(ImgEditTest, MalformedSidecarsNameFileLineAndField) {
  const std::string p = "judged/imgedit.jsonl";
  auto err = [&](const std::string& text) {
    auto r = ParseImgEditJsonl(text, p);
    return r.ok() ? OkStatus() : r.status();
  };
  const std::string ok = R"({"key": "1", "edit_type": "add", "scores": [1, 2, 3]})";
  ExpectError(err(ok + "\n{\"key\": \"2\"\n"), p + ":2: not valid JSON");
  ExpectError(err(ok + "\n\n[1]"), p + ":3: expected a JSON object");
  ExpectError(err(R"({"edit_type": "add", "scores": [1]})"), p + ":1: \"key\" must be a non-empty string");
  ExpectError(err(R"({"key": "1", "edit_type": 3, "scores": [1]})"),
              p + ":1: \"edit_type\" must be a string");
  ExpectError(err(R"({"key": "1", "edit_type": "add"})"),
              p + ":1: give exactly one of \"judgement\"");
  ExpectError(err(R"({"key": "1", "judgement": "A: 1", "scores": [1]})"),
              p + ":1: give exactly one of \"judgement\"");
  ExpectError(err(R"({"key": "1", "scores": []})"), p + ":1: \"scores\" must be a non-empty list");
  ExpectError(err(R"({"key": "1", "scores": [4, 2.5]})"),
              p + ":1: \"scores\"[1] must be an integer >= 0");
  ExpectError(err(R"({"key": "1", "judgement": 5})"), p + ":1: \"judgement\" must be a string");
  // Duplicates and nothing scored, at aggregation.
  auto dup = ParseImgEditJsonl(ok + "\n" + ok, p);
  ASSERT_TRUE(dup.ok());
  ExpectError(AggregateImgEdit(*dup).status(),
              p + ":2: key \"1\" appears again (first at " + p + ":1)");
  auto none = ParseImgEditJsonl(R"({"key": "1", "judgement": "nothing"})", p);
  ASSERT_TRUE(none.ok());
  ExpectError(AggregateImgEdit(*none).status(), "ImgEdit: no sample has a score");
  // Upstream's files: the key's line.
  auto up = ParseImgEditUpstream("{\n  \"7\": \"A: 1\",\n  \"8\": 5\n}", "r.json",
                                 "{\"8\": {\"edit_type\": \"add\"}}", "m.json");
  ExpectError(up.status(), "r.json:3: key \"8\": the judgement must be a string");
  up = ParseImgEditUpstream("{\"8\": \"A: 1\"}", "r.json",
                            "{\n\"8\": {\"edit_type\": [1]}}", "m.json");
  ExpectError(up.status(), "m.json:2: key \"8\": \"edit_type\" must be a string");
  ExpectError(ParseImgEditUpstream("[]", "r.json", "{}", "m.json").status(),
              "r.json: expected upstream's result.json");
}

// The fixture edit_judges_testdata/gedit.jsonl, by hand (all perfect
// squares, so O = sqrt(SC x PQ) is exact):
//   en, per group (SC, PQ, O):
//     background_change  k1 (8, 2, 4), k2 (2, 2, 2)  -> (5, 2, 3)
//     color_alter (9, 4, 6)      material_alter (4, 9, 6)
//     motion_change (1, 9, 3)    ps_human (10, 10, 10)
//     style_change (2, 8, 4)     subject-add (0, 7, 0)
//     subject-remove (9, 1, 3)   subject-replace (6, 6, 6)
//     text_change (8, 8, 8)
//     tone_transfer k12 (5, 5, 5), k13 (3, 3, 3, "sementics_score")
//                                -> (4, 4, 4)
//   means over the 11 groups: SC 58/11, PQ 68/11, O 53/11 (not
//   sqrt(SC x PQ) of the means: 5.99..).
//   intersection (k1, k3, k6, k13): groups background_change (8, 2, 4),
//   color_alter (9, 4, 6), ps_human (10, 10, 10), tone_transfer (3, 3, 3):
//   SC 30/4 = 7.5, PQ 19/4 = 4.75, O 23/4 = 5.75; 7 groups missing.
//   cn: k1 subject-add (10, 10, 10) only: O 10, 10 groups missing, 13
//   samples in the other language.
TEST(GEditTest, FixtureAggregatesAsUpstream) {
  const std::string path = kData + "/gedit.jsonl";
  auto samples = ParseGEditJsonl(Read(path), path);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 14u);
  EXPECT_EQ((*samples)[13].semantics, 3.0);
  auto en = AggregateGEdit(*samples, "en");
  ASSERT_TRUE(en.ok()) << en.status();
  EXPECT_DOUBLE_EQ(en->fullset.semantics, 58.0 / 11);
  EXPECT_DOUBLE_EQ(en->fullset.quality, 68.0 / 11);
  EXPECT_DOUBLE_EQ(en->fullset.overall, 53.0 / 11);
  EXPECT_EQ(en->fullset.samples, 13);
  EXPECT_TRUE(en->fullset.complete());
  ASSERT_EQ(en->fullset.groups.size(), 11u);
  EXPECT_EQ(en->fullset.groups[0].group, "background_change");
  EXPECT_EQ(en->fullset.groups[0].samples, 2);
  EXPECT_DOUBLE_EQ(en->fullset.groups[0].semantics, 5);
  EXPECT_DOUBLE_EQ(en->fullset.groups[0].quality, 2);
  EXPECT_DOUBLE_EQ(en->fullset.groups[0].overall, 3);
  EXPECT_EQ(en->fullset.groups[10].group, "tone_transfer");
  EXPECT_DOUBLE_EQ(en->fullset.groups[10].overall, 4);
  EXPECT_EQ(en->other_language, 1);
  EXPECT_DOUBLE_EQ(en->intersection.semantics, 7.5);
  EXPECT_DOUBLE_EQ(en->intersection.quality, 4.75);
  EXPECT_DOUBLE_EQ(en->intersection.overall, 5.75);
  EXPECT_EQ(en->intersection.samples, 4);
  EXPECT_EQ(en->intersection.missing_groups.size(), 7u);
  EXPECT_FALSE(en->intersection.complete());

  auto cn = AggregateGEdit(*samples, "cn");
  ASSERT_TRUE(cn.ok()) << cn.status();
  EXPECT_DOUBLE_EQ(cn->fullset.overall, 10);
  EXPECT_EQ(cn->fullset.missing_groups.size(), 10u);
  EXPECT_EQ(cn->other_language, 13);
  ExpectError(AggregateGEdit(*samples, "de").status(), "GEdit: the language must be");
}

TEST(GEditTest, MalformedSidecarsNameFileLineAndField) {
  const std::string p = "judged/gedit.jsonl";
  auto err = [&](const std::string& text) {
    auto r = ParseGEditJsonl(text, p);
    return r.ok() ? OkStatus() : r.status();
  };
  const std::string head =
      R"({"key": "a", "task_type": "subject-add", "instruction_language": "en", )";
  ExpectError(err("# c\n" + head + R"("intersection_exist": true, "semantics_score": 8})"),
              p + ":2: \"quality_score\" must be a number in [0, 10]");
  ExpectError(err(head + R"("intersection_exist": true, "quality_score": 8})"),
              p + ":1: \"semantics_score\" must be a number in [0, 10]");
  ExpectError(err(head + R"("intersection_exist": true, "semantics_score": 11, "quality_score": 8})"),
              p + ":1: \"semantics_score\" must be a number in [0, 10]");
  ExpectError(err(head + R"("intersection_exist": true, "sementics_score": "8", "quality_score": 8})"),
              p + ":1: \"sementics_score\" must be a number in [0, 10]");
  ExpectError(err(head + R"("intersection_exist": "True", "semantics_score": 8, "quality_score": 8})"),
              p + ":1: \"intersection_exist\" must be true or false");
  ExpectError(err(R"({"key": "a", "task_type": "recolor", "instruction_language": "en"})"),
              p + ":1: \"task_type\" \"recolor\" is not one of GEdit-Bench's groups");
  ExpectError(err(R"({"key": "a", "task_type": "ps_human", "instruction_language": "fr"})"),
              p + ":1: \"instruction_language\" must be \"en\" or \"cn\"");
  ExpectError(err(R"({"task_type": "ps_human"})"), p + ":1: \"key\" must be a non-empty string");
  ExpectError(err("{oops"), p + ":1: not valid JSON");
  const std::string line =
      head + R"("intersection_exist": false, "semantics_score": 8, "quality_score": 8})";
  auto dup = ParseGEditJsonl(line + "\n" + line, p);
  ASSERT_TRUE(dup.ok());
  ExpectError(AggregateGEdit(*dup, "en").status(),
              p + ":2: key \"a\" (en) appears again (first at " + p + ":1)");
  ExpectError(AggregateGEdit({(*dup)[0]}, "cn").status(),
              "GEdit: no sample in language \"cn\" (1 in the other)");
}

// Upstream's per-group CSVs (edit_judges_testdata/bagel_*_gpt_score.csv,
// written by Python's csv module: \r\n ends, quoted fields with "" and a
// line break inside):
//   subject-add: a/1.png (9, 4, O 6, intersection), a/2.png (1, 1, O 1),
//                a/3.png cn;  tone_transfer: t/1.png (8.0, 2.0, O 4).
//   en: subject-add (SC 5, PQ 2.5, O 3.5), tone_transfer (8, 2, 4); means
//   over the 2 groups present SC 6.5, PQ 2.25, O 3.75, 9 groups missing;
//   intersection: subject-add (9, 4, 6) only.
TEST(GEditTest, UpstreamCsvsAggregateAsUpstream) {
  std::vector<GEditJudgement> samples;
  for (const char* name : {"bagel_subject-add_gpt_score.csv", "bagel_tone_transfer_gpt_score.csv"}) {
    const std::string path = kData + "/" + name;
    auto part = ParseGEditUpstreamCsv(Read(path), path);
    ASSERT_TRUE(part.ok()) << part.status();
    samples.insert(samples.end(), part->begin(), part->end());
  }
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].key, "a/1.png");
  EXPECT_EQ(samples[0].task_type, "subject-add");
  EXPECT_TRUE(samples[0].intersection);
  EXPECT_EQ(samples[2].origin, kData + "/bagel_subject-add_gpt_score.csv:5");
  EXPECT_EQ(samples[2].language, "cn");
  EXPECT_EQ(samples[3].task_type, "tone_transfer");
  auto s = AggregateGEdit(samples, "en");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->fullset.semantics, 6.5);
  EXPECT_DOUBLE_EQ(s->fullset.quality, 2.25);
  EXPECT_DOUBLE_EQ(s->fullset.overall, 3.75);
  EXPECT_EQ(s->fullset.missing_groups.size(), 9u);
  EXPECT_DOUBLE_EQ(s->fullset.groups[0].quality, 2.5);
  EXPECT_DOUBLE_EQ(s->intersection.overall, 6);
  EXPECT_EQ(s->other_language, 1);

  const std::string h =
      "source_image,edited_image,instruction,sementics_score,quality_score,"
      "intersection_exist,instruction_language\n";
  auto err = [](const std::string& text, const std::string& path) {
    auto r = ParseGEditUpstreamCsv(text, path);
    return r.ok() ? OkStatus() : r.status();
  };
  const std::string p = "out/m_ps_human_gpt_score.csv";
  ExpectError(err(h + "s,e,i,8,x,True,en\n", p), p + ":2: \"quality_score\" must be a number");
  ExpectError(err(h + "s,e,\"i\n\",8,11,True,en\n", p),
              p + ":2: \"quality_score\" must be a number in [0, 10]");
  ExpectError(err(h + "s,e,i,8\n", p), p + ":2: 4 fields, the header has 7");
  ExpectError(err(h + "s,e,i,8,8,maybe,en\n", p), p + ":2: \"intersection_exist\" must be True");
  ExpectError(err(h + "s,e,\"i,8,8,True,en\n", p), p + ":2: a quoted field is not closed");
  ExpectError(err("a,b\n", p), p + ":1: the header has no column \"edited_image\"");
  ExpectError(err(h, "out/results.csv"), "out/results.csv: the file name does not end with");
  EXPECT_TRUE(ParseGEditUpstreamCsv(h + "s,e,i,8,8,True,en\n", "x.csv", "ps_human").ok());
}

// reca-eval's route: the judge suites of RunSidecarSuites' scores.json.
Status ScoreToDir(const EditJudgeOptions& o, const std::string& out_dir, std::ostream& log) {
  SidecarOptions s;
  s.edit = o;
  s.out_dir = out_dir;
  return RunSidecarSuites(s, log);
}

TEST(EditJudgeSuitesTest, BothBecomeSuitesOfScoresJson) {
  const std::string d = Dir("both");
  EditJudgeOptions o;
  o.imgedit_judgements = kData + "/imgedit.jsonl";
  o.gedit_judgements = kData + "/gedit.jsonl";
  std::ostringstream log;
  ASSERT_TRUE(ScoreToDir(o, d + "/out", log).ok()) << log.str();
  const auto j = nlohmann::json::parse(Read(d + "/out/scores.json"));
  const auto& im = j["suites"]["imgedit"];
  EXPECT_EQ(im["overall"].get<double>(), 3.18);
  EXPECT_EQ(im["types"]["alter"].get<double>(), 2.58);
  EXPECT_EQ(im["samples"].get<int>(), 7);
  EXPECT_EQ(im["unscored"].get<int>(), 1);
  const auto& ge = j["suites"]["gedit"];
  EXPECT_DOUBLE_EQ(ge["overall"].get<double>(), 53.0 / 11);
  EXPECT_DOUBLE_EQ(ge["semantics"].get<double>(), 58.0 / 11);
  EXPECT_DOUBLE_EQ(ge["intersection"]["overall"].get<double>(), 5.75);
  EXPECT_DOUBLE_EQ(ge["groups"]["subject-add"]["overall"].get<double>(), 0.0);
  EXPECT_EQ(ge["language"], "en");
  EXPECT_EQ(j["settings"]["gedit_language"], "en");
  EXPECT_NE(log.str().find("dropped, as upstream"), std::string::npos) << log.str();

  // Upstream's pair of files instead of the JSONL.
  EditJudgeOptions u;
  u.imgedit_results = kData + "/imgedit_result.json";
  u.imgedit_meta = kData + "/imgedit_basic_edit.json";
  ASSERT_TRUE(ScoreToDir(u, d + "/upstream", log).ok()) << log.str();
  const auto k = nlohmann::json::parse(Read(d + "/upstream/scores.json"));
  EXPECT_EQ(k["suites"]["imgedit"]["overall"].get<double>(), 3.08);
  EXPECT_FALSE(k["suites"].contains("gedit"));

  // Upstream's CSVs instead of the JSONL.
  EditJudgeOptions c;
  c.gedit_csvs = {kData + "/bagel_subject-add_gpt_score.csv",
                  kData + "/bagel_tone_transfer_gpt_score.csv"};
  ASSERT_TRUE(ScoreToDir(c, d + "/csv", log).ok()) << log.str();
  const auto m = nlohmann::json::parse(Read(d + "/csv/scores.json"));
  EXPECT_DOUBLE_EQ(m["suites"]["gedit"]["overall"].get<double>(), 3.75);
  EXPECT_EQ(m["suites"]["gedit"]["missing_groups"].size(), 9u);
  EXPECT_NE(log.str().find("upstream would print nan"), std::string::npos);
}

TEST(EditJudgeSuitesTest, ErrorsNameTheFlagOrTheFile) {
  const std::string d = Dir("errors");
  EditJudgeOptions o;
  EXPECT_FALSE(HasEditJudgeInputs(o));
  ExpectError(ValidateEditJudgeOptions(o), "name the files to score");
  o.imgedit_results = "r.json";
  ExpectError(ValidateEditJudgeOptions(o), "--imgedit_meta: required with --imgedit_results");
  o.imgedit_meta = "m.json";
  o.imgedit_judgements = "j.jsonl";
  ExpectError(ValidateEditJudgeOptions(o), "--imgedit_judgements: give either it");
  o = EditJudgeOptions();
  o.gedit_judgements = "g.jsonl";
  o.gedit_language = "fr";
  ExpectError(ValidateEditJudgeOptions(o), "--gedit_language: must be en or cn");
  o.gedit_csvs = {"x_ps_human_gpt_score.csv"};
  ExpectError(ValidateEditJudgeOptions(o), "--gedit_judgements: give either it or --gedit_csvs");
  o.gedit_csvs.clear();
  o.gedit_language = "en";
  ExpectError(ScoreToDir(o, "", std::cerr), "--out: required");

  const std::string out = d + "/out";
  o.gedit_judgements = Write(d, "bad.jsonl", "\n{\"key\": \"a\"}\n");
  std::ostringstream log;
  ExpectError(ScoreToDir(o, out, log), d + "/bad.jsonl:2: \"task_type\" must be a non-empty string");
  o.gedit_judgements = d + "/missing.jsonl";
  const Status missing = ScoreToDir(o, out, log);
  EXPECT_NE(std::string(missing.message()).find("missing.jsonl"), std::string::npos) << missing;
  // Every sample without a score: the file is named.
  o.gedit_judgements.clear();
  o.imgedit_judgements = Write(d, "none.jsonl", R"({"key": "1", "judgement": "n/a"})");
  ExpectError(ScoreToDir(o, out, log), d + "/none.jsonl: ImgEdit: no sample has a score");
  EXPECT_FALSE(ReadFile(out + "/scores.json").ok()) << "nothing written on error";
}

}  // namespace
}  // namespace reca
