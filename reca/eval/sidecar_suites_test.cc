#include "reca/eval/sidecar_suites.h"

#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "reca/file_util.h"

// dpg_csv_test's fixtures (CMake passes the source path; Bazel runs from the
// workspace root).
#ifndef RECA_DPG_TESTDATA
#define RECA_DPG_TESTDATA "reca/eval/dpg_testdata"
#endif

namespace reca {
namespace {

std::string Dir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string d = std::string(t ? t : "/tmp") + "/sidecar_" + name + "_" +
                        std::to_string(::getpid());
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

std::string Write(const std::string& dir, const std::string& name,
                  const std::string& text) {
  const std::string path = dir + "/" + name;
  EXPECT_TRUE(WriteFileAtomic(path, text).ok());
  return path;
}

// Two upstream prompts and four judged images. By hand, with upstream's rules
// (threshold 0.3 outside counting; colour from the top detection):
//   prompt 0 (single_object dog): image 0 dog 0.95 -> correct;
//                                 image 1 dog 0.2 (below 0.3) -> wrong;
//   prompt 1 (colors red car):    image 0 car 0.9 but blue -> wrong;
//                                 image 1 red car 0.25 (below 0.3) -> wrong.
// single_object 1/2, colors 0/2: overall 0.25; images 1/4 correct; prompts
// with a correct image 1/2.
constexpr const char* kMetadata =
    R"({"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"}
{"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"}
)";
constexpr const char* kDetections = R"({"images": [
  {"filename": "00000/samples/0000.png", "detections": {"dog": [{"box": [0, 0, 10, 10], "score": 0.95}]}},
  {"filename": "00000/samples/0001.png", "detections": {"dog": [{"box": [0, 0, 10, 10], "score": 0.2}]}},
  {"filename": "00001/samples/0000.png", "detections": {"car": [{"box": [0, 0, 10, 10], "score": 0.9, "color": "blue"}]}},
  {"filename": "00001/samples/0001.png", "detections": {"car": [{"box": [0, 0, 10, 10], "score": 0.25, "color": "red"}]}}]})";

TEST(SidecarSuitesTest, GenEvalAndDpgBecomeSuitesOfScoresJson) {
  const std::string d = Dir("both");
  SidecarOptions o;
  o.geneval_metadata = Write(d, "evaluation_metadata.jsonl", kMetadata);
  o.geneval_detections = Write(d, "detections.json", kDetections);
  // DPG: question 2 depends on 1. Image 0 answers 1 "no" (2 zeroed): 0;
  // image 1 all yes: 1. Prompt 0.5. Categories from the last image: 1.
  o.dpg_questions = Write(d, "questions.json",
                          R"json({"prompts": [{"item_id": "dog", "questions": [
      {"id": 1, "parents": [0], "tuple": "global - style (watercolor)"},
      {"id": 2, "parents": [1], "tuple": "entity - whole (dog)"}]}]})json");
  o.dpg_answers =
      Write(d, "answers.json",
            R"({"dog": [{"1": "no", "2": "yes"}, {"1": "yes", "2": "yes"}]})");
  o.out_dir = d + "/out";
  std::ostringstream log;
  ASSERT_TRUE(RunSidecarSuites(o, log).ok()) << log.str();

  auto text = ReadFile(o.out_dir + "/scores.json");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  const auto& g = j["suites"]["geneval"];
  EXPECT_DOUBLE_EQ(g["overall"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(g["tags"]["single_object"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(g["tags"]["colors"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(g["correct_images"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(g["correct_prompts"].get<double>(), 0.5);
  EXPECT_EQ(g["images"].get<int>(), 4);
  const auto& p = j["suites"]["dpg"];
  EXPECT_DOUBLE_EQ(p["overall"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(p["categories"]["global"].get<double>(), 1.0);
  EXPECT_EQ(j["settings"]["dpg_answers"], o.dpg_answers);

  auto rows = ReadFile(o.out_dir + "/geneval_results.jsonl");
  ASSERT_TRUE(rows.ok());
  std::istringstream lines(*rows);
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line))
    parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 4u);
  EXPECT_EQ(parsed[0]["filename"], "00000/samples/0000.png");
  EXPECT_TRUE(parsed[0]["correct"].get<bool>());
  EXPECT_FALSE(parsed[2]["correct"].get<bool>());
  EXPECT_FALSE(parsed[2]["reason"].get<std::string>().empty());
  EXPECT_EQ(parsed[3]["tag"], "colors");
}

TEST(SidecarSuitesTest, ErrorsNameTheFlagOrTheFile) {
  const std::string d = Dir("errors");
  SidecarOptions o;
  o.out_dir = d + "/out";
  EXPECT_FALSE(HasSidecarInputs(o));
  o.geneval_metadata = Write(d, "m.jsonl", kMetadata);
  Status s = ValidateSidecarOptions(o);
  EXPECT_NE(s.ToString().find(
                "--geneval_detections: required with --geneval_metadata"),
            std::string::npos)
      << s;

  o.geneval_detections = d + "/missing.json";
  std::ostringstream log;
  s = RunSidecarSuites(o, log);
  EXPECT_NE(s.ToString().find("missing.json"), std::string::npos) << s;

  o.geneval_detections = Write(d, "bad.json", "{\"images\": 3}");
  s = RunSidecarSuites(o, log);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.ToString().find(d + "/bad.json: "), std::string::npos) << s;

  // An image of a prompt the metadata does not have.
  o.geneval_detections =
      Write(d, "far.json",
            R"([{"filename": "00009/samples/0000.png", "detections": {}}])");
  s = RunSidecarSuites(o, log);
  EXPECT_NE(s.ToString().find("far.json: "), std::string::npos) << s;
  EXPECT_FALSE(ReadFile(o.out_dir + "/scores.json").ok())
      << "nothing written on error";
}

TEST(SidecarSuitesTest, GenEvalOptionsReachTheRules) {
  // Threshold 0.1: image 1's dog (0.2) and image 3's red car (0.25) count
  // now. single_object 2/2, colors 1/2 (image 2's car is blue): 0.75.
  const std::string d = Dir("options");
  SidecarOptions o;
  o.geneval_metadata = Write(d, "evaluation_metadata.jsonl", kMetadata);
  o.geneval_detections = Write(d, "detections.json", kDetections);
  o.geneval.threshold = 0.1;
  o.out_dir = d + "/out";
  std::ostringstream log;
  ASSERT_TRUE(RunSidecarSuites(o, log).ok()) << log.str();
  auto text = ReadFile(o.out_dir + "/scores.json");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_DOUBLE_EQ(j["suites"]["geneval"]["overall"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["settings"]["geneval_threshold"].get<double>(), 0.1);
  EXPECT_EQ(j["settings"]["geneval_max_objects"].get<int>(), 16);

  o.geneval.threshold = 2;
  EXPECT_EQ(ValidateSidecarOptions(o).ToString(),
            "INVALID_ARGUMENT: --geneval_threshold: must be a number in [0, "
            "1]");
  o.geneval = {};
  o.geneval.max_objects = -1;
  EXPECT_NE(ValidateSidecarOptions(o).ToString().find("--geneval_max_objects"),
            std::string::npos);
}

TEST(SidecarSuitesTest, DpgFromUpstreamsCsv) {
  // dpg_csv_test derives these: upstream skips the CSV's first row, which
  // fails cat_sofa; dog 1/3 (images 2/3 and 0), lamp 1: overall 2/3.
  const std::string d = Dir("dpg_csv");
  const std::string data = RECA_DPG_TESTDATA;
  SidecarOptions o;
  o.dpg_csv = data + "/dpg_bench.csv";
  o.dpg_answers = data + "/dpg_answers.json";
  o.out_dir = d + "/out";
  std::ostringstream log;
  ASSERT_TRUE(RunSidecarSuites(o, log).ok()) << log.str();
  EXPECT_NE(log.str().find("cat_sofa left out, as upstream does"),
            std::string::npos)
      << log.str();
  auto text = ReadFile(o.out_dir + "/scores.json");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  const auto& p = j["suites"]["dpg"];
  EXPECT_NEAR(p["overall"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(p["prompts"].get<int>(), 2);
  EXPECT_NEAR(p["categories"]["entity"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(p["l2_categories"]["entity - whole"].get<double>(), 2.0 / 3.0,
              1e-12);
  EXPECT_EQ(p["l2_categories"]["global - style"].get<double>(), 0.0);
  EXPECT_TRUE(p["failed"].contains("cat_sofa"));
  ASSERT_EQ(p["per_prompt"].size(), 2u);
  EXPECT_EQ(p["per_prompt"][0]["item_id"], "dog");
  EXPECT_NEAR(p["per_prompt"][0]["score"].get<double>(), 1.0 / 3.0, 1e-12);
  ASSERT_EQ(p["per_prompt"][0]["image_scores"].size(), 2u);
  EXPECT_NEAR(p["per_prompt"][0]["image_scores"][0].get<double>(), 2.0 / 3.0,
              1e-12);
  EXPECT_EQ(p["per_prompt"][0]["image_scores"][1].get<double>(), 0.0);
  EXPECT_EQ(j["settings"]["dpg_csv"], o.dpg_csv);
  EXPECT_EQ(j["settings"]["dpg_keep_first_row"], false);
  // The converted questions file scores the same through --dpg_questions.
  SidecarOptions again;
  again.dpg_questions = o.out_dir + "/dpg_questions.json";
  again.dpg_answers = o.dpg_answers;
  again.out_dir = d + "/again";
  ASSERT_TRUE(RunSidecarSuites(again, log).ok()) << log.str();
  auto again_text = ReadFile(again.out_dir + "/scores.json");
  ASSERT_TRUE(again_text.ok());
  EXPECT_EQ(nlohmann::json::parse(*again_text)["suites"],
            nlohmann::json::parse(*text)["suites"]);

  // --dpg_csv alone only converts; --dpg_keep_first_row reads cat_sofa's row.
  SidecarOptions convert;
  convert.dpg_csv = o.dpg_csv;
  convert.dpg_keep_first_row = true;
  convert.out_dir = d + "/convert";
  ASSERT_TRUE(RunSidecarSuites(convert, log).ok()) << log.str();
  EXPECT_FALSE(ReadFile(convert.out_dir + "/scores.json").ok());
  auto questions = ReadFile(convert.out_dir + "/dpg_questions.json");
  ASSERT_TRUE(questions.ok());
  auto q = nlohmann::json::parse(*questions);
  ASSERT_EQ(q["prompts"].size(), 3u);
  EXPECT_EQ(q["prompts"][0]["questions"].size(), 5u);
  EXPECT_FALSE(q["prompts"][0].contains("dropped_by_upstream"));

  o.dpg_questions = again.dpg_questions;
  EXPECT_NE(ValidateSidecarOptions(o).ToString().find(
                "--dpg_csv: not with --dpg_questions"),
            std::string::npos);
  o.dpg_csv.clear();
  o.dpg_keep_first_row = true;
  EXPECT_NE(ValidateSidecarOptions(o).ToString().find(
                "--dpg_keep_first_row: only with --dpg_csv"),
            std::string::npos);
}

}  // namespace
}  // namespace reca
