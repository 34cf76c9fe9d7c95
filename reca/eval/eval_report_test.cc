#include "reca/eval/eval_report.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "reca/data/dataset.h"
#include "reca/file_util.h"
#include "reca/image_io.h"

namespace reca {
namespace {

std::string FreshDir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(t ? t : "/tmp") + "/eval_report_" + name +
                          "_" + std::to_string(::getpid());
  EXPECT_TRUE(MakeDirs(dir).ok());
  return dir;
}

std::string Scores(double overall, double position, double psnr) {
  return R"({"checkpoint": "c", "step": 1, "suites": {"shapes_eval": {"overall": )" +
         std::to_string(overall) +
         R"(, "tags": {"single_object": 0.5, "position": )" +
         std::to_string(position) +
         R"(}, "prompts": 300, "images": 600, "seconds": 80},
           "recon": {"psnr": )" +
         std::to_string(psnr) + R"(, "ssim": 0.2, "images": 16, "seconds": 1}},
           "settings": {"seed": 0, "images_per_prompt": 2}})";
}

RgbImage Solid(int w, int h, uint8_t r) {
  return RgbImage{w, h,
                  std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, r)};
}

void WriteStep(const std::string& eval_dir, const std::string& name,
               const std::string& scores, uint8_t shade) {
  const std::string dir = eval_dir + "/" + name;
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/scores.json", scores).ok());
  ASSERT_TRUE(
      WritePngGrid(dir + "/shapes_eval.png", {{Solid(2, 2, shade)}}, 1, 0)
          .ok());
}

TEST(EvalReportTest, ComparesTheFirstAndLatestScoredSteps) {
  const std::string dir = FreshDir("three");
  WriteStep(dir, "step-00000000", Scores(0.25, 0.10, 14.0), 10);
  WriteStep(dir, "step-00000200", Scores(0.30, 0.20, 15.0), 20);
  WriteStep(dir, "step-00000400", Scores(0.40, 0.35, 16.5), 30);
  // Claimed but not scored yet, and unrelated entries: ignored.
  ASSERT_TRUE(MakeDirs(dir + "/step-00000600").ok());
  ASSERT_TRUE(MakeDirs(dir + "/step-x").ok());

  auto steps = ListScoredSteps(dir);
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ(steps->back().step, 400);

  auto report = WriteComparisonReport(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(report->written);
  EXPECT_EQ(report->first_step, 0);
  EXPECT_EQ(report->latest_step, 400);
  auto md = ReadFile(dir + "/report.md");
  ASSERT_TRUE(md.ok());
  EXPECT_NE(md->find("step 0 (base) → step 400"), std::string::npos) << *md;
  EXPECT_NE(md->find("| shapes_eval | overall | 0.250 | 0.400 | +0.150 |"),
            std::string::npos)
      << *md;
  EXPECT_NE(md->find("| shapes_eval | position | 0.100 | 0.350 | +0.250 |"),
            std::string::npos);
  EXPECT_NE(md->find("| recon | psnr | 14.00 | 16.50 | +2.50 |"),
            std::string::npos);
  EXPECT_EQ(md->find("seconds"), std::string::npos)
      << "bookkeeping is not a metric";
  EXPECT_EQ(md->find("different settings"), std::string::npos);

  // report.png: the first step's grid on the left, the latest's on the right.
  auto png = ReadFile(report->png_path);
  ASSERT_TRUE(png.ok());
  auto image = DecodeImage(*png, report->png_path);
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->height, 2);
  ASSERT_GT(image->width, 4);
  EXPECT_EQ(image->pixels[0], 10);
  EXPECT_EQ(image->pixels[(image->width - 1) * 3], 30);
}

TEST(EvalReportTest, WaitsForTwoScoredSteps) {
  const std::string dir = FreshDir("one");
  WriteStep(dir, "step-00000000", Scores(0.25, 0.1, 14.0), 10);
  auto report = WriteComparisonReport(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->written);
}

TEST(EvalReportTest, ErrorsNameTheFile) {
  const std::string dir = FreshDir("bad");
  WriteStep(dir, "step-00000000", "{not json", 10);
  WriteStep(dir, "step-00000100", Scores(0.3, 0.2, 15.0), 20);
  auto report = WriteComparisonReport(dir);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().ToString().find("step-00000000/scores.json"),
            std::string::npos)
      << report.status();
  EXPECT_FALSE(WriteComparisonReport(dir + "/missing").ok());
}

TEST(EvalReportTest, DifferentSettingsAreFlagged) {
  const std::string dir = FreshDir("settings");
  WriteStep(dir, "step-00000000", Scores(0.25, 0.1, 14.0), 10);
  std::string other = Scores(0.3, 0.2, 15.0);
  other.replace(other.find("\"images_per_prompt\": 2"), 22,
                "\"images_per_prompt\": 4");
  WriteStep(dir, "step-00000100", other, 20);
  auto report = WriteComparisonReport(dir);
  ASSERT_TRUE(report.ok()) << report.status();
  auto md = ReadFile(dir + "/report.md");
  ASSERT_TRUE(md.ok());
  EXPECT_NE(md->find("different settings"), std::string::npos) << *md;
}

}  // namespace
}  // namespace reca
