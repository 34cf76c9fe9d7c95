#include "reca/config_file.h"

#include <cstdlib>

#include "gtest/gtest.h"
#include "reca/file_util.h"

namespace reca {
namespace {

std::string Write(const std::string& name, const std::string& text) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(t ? t : "/tmp") + "/" + name;
  EXPECT_TRUE(WriteFileAtomic(path, text).ok());
  return path;
}

TEST(ConfigFileTest, ReadsFlatKeys) {
  auto m = ReadFlatYaml(Write("ok.yaml", "# a job\nmode: pretrain\nsteps: 40\nlr: 1e-3\n"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("mode"), "pretrain");
  EXPECT_EQ(m->at("steps"), "40");
  EXPECT_EQ(m->at("lr"), "1e-3");
}

TEST(ConfigFileTest, ErrorsNameFileAndKey) {
  auto nested = ReadFlatYaml(Write("nested.yaml", "optimizer:\n  lr: 1\n"));
  EXPECT_EQ(nested.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(nested.status().message().find("'optimizer'"), std::string::npos);
  auto list = ReadFlatYaml(Write("list.yaml", "- a\n- b\n"));
  EXPECT_NE(list.status().message().find("mapping"), std::string::npos);
  auto broken = ReadFlatYaml(Write("broken.yaml", "mode: [unclosed\n"));
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("broken.yaml"), std::string::npos);
  EXPECT_EQ(ReadFlatYaml("/nonexistent/job.yaml").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace reca
