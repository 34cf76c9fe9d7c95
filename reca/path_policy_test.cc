// Path confinement: '..', absolute paths outside the roots and symlinks that
// lead out are refused with the field path; what is inside passes.
#include "reca/path_policy.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace reca {
namespace {
namespace fs = std::filesystem;

class PathPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / ("path_policy_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    fs::create_directories(dir_ / "outside");
    std::ofstream(dir_ / "data" / "ok.jsonl") << "{}\n";
    std::ofstream(dir_ / "outside" / "secret") << "x\n";
    fs::create_symlink(dir_ / "outside" / "secret", dir_ / "data" / "link.jsonl");
    fs::create_directory_symlink(dir_ / "outside", dir_ / "data" / "linkdir");
    roots_.roots = {(dir_ / "data").string()};
    roots_.base = (dir_ / "data").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Error(const std::string& path, bool on_disk = true) {
    Status s = ConfinePath("spec.x", path, roots_, on_disk);
    return s.ok() ? "" : std::string(s.message());
  }

  fs::path dir_;
  PathRoots roots_;
};

TEST_F(PathPolicyTest, InsideTheRootsPasses) {
  EXPECT_EQ(Error("ok.jsonl"), "");
  EXPECT_EQ(Error((dir_ / "data" / "ok.jsonl").string()), "");
  EXPECT_EQ(Error((dir_ / "data" / "not-yet" / "file").string()), "");  // created later
  EXPECT_EQ(Error(""), "");                                              // no path
  EXPECT_EQ(ConfinePath("f", "/etc/passwd", PathRoots{}, true), OkStatus());  // no roots
}

TEST_F(PathPolicyTest, DotDotIsRefusedAnywhere) {
  EXPECT_EQ(Error("../outside/secret"), "spec.x: ../outside/secret: '..' is not allowed in paths");
  EXPECT_NE(Error((dir_ / "data" / ".." / "data" / "ok.jsonl").string()).find("'..' is not allowed"),
            std::string::npos);
}

TEST_F(PathPolicyTest, AbsolutePathsOutsideAreRefused) {
  EXPECT_EQ(Error("/etc/passwd", false),
            "spec.x: /etc/passwd is outside the allowed roots (" + (dir_ / "data").string() + ")");
  // A sibling whose name starts like the root is not inside it.
  EXPECT_NE(Error((dir_ / "data2" / "f").string(), false).find("outside"), std::string::npos);
}

TEST_F(PathPolicyTest, SymlinksOutAreRefusedOnDiskOnly) {
  EXPECT_EQ(Error("link.jsonl", /*on_disk=*/false), "");  // the coordinator cannot see it
  EXPECT_NE(Error("link.jsonl").find("resolves (through a symlink) to " +
                                     (dir_ / "outside" / "secret").string()),
            std::string::npos);
  EXPECT_NE(Error("linkdir/secret").find("through a symlink"), std::string::npos);
  EXPECT_NE(Error("linkdir/new-file").find("through a symlink"), std::string::npos);
}

TEST_F(PathPolicyTest, EverySpecPathIsCheckedWithItsField) {
  JobSpec spec;
  spec.model.init = "ok.jsonl";
  spec.data.sources.resize(2);
  spec.data.sources[1].shards = {"shards/part-{0000..0009}.tar", "/etc/*.tar"};
  Status s = ConfineSpecPaths(spec, roots_, true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()).rfind("spec.data.sources[1].shards[1]: /etc/", 0), 0u)
      << s.message();
  spec.data.sources[1].shards.pop_back();
  EXPECT_TRUE(ConfineSpecPaths(spec, roots_, true).ok());
  spec.reca.templates_file = "link.jsonl";
  EXPECT_EQ(std::string(ConfineSpecPaths(spec, roots_, true).message()).rfind(
                "spec.reca.templates_file: link.jsonl resolves", 0),
            0u);
  spec.reca.templates_file.clear();
  spec.model.module = "../m.pt";
  EXPECT_EQ(std::string(ConfineSpecPaths(spec, roots_, false).message()),
            "spec.model.module: ../m.pt: '..' is not allowed in paths");
}

TEST(ParseRootsTest, AbsoluteAndNormalized) {
  auto roots = ParseRoots("data_roots", "/srv/data/,rel,,/a/./b", "/base");
  ASSERT_TRUE(roots.ok()) << roots.status();
  EXPECT_EQ(*roots, (std::vector<std::string>{"/srv/data", "/base/rel", "/a/b"}));
  EXPECT_EQ(std::string(ParseRoots("data_roots", "/").status().message()),
            "--data_roots: /: a root must be a directory below /");
}

}  // namespace
}  // namespace reca
