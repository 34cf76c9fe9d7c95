#include "reca/file_util.h"

#include <sys/stat.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace reca {
namespace {

std::string TmpDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

TEST(FileUtilTest, AtomicWriteReplacesAndReads) {
  const std::string dir = TmpDir() + "/fu/a/b";
  ASSERT_TRUE(MakeDirs(dir).ok());
  const std::string path = dir + "/x.bin";
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomic(path, std::string("sec\0ond", 7)).ok());
  auto got = ReadFile(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, std::string("sec\0ond", 7));
}

TEST(FileUtilTest, ErrorsNameThePath) {
  auto missing = ReadFile(TmpDir() + "/does/not/exist");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/does/not/exist"), std::string::npos);
  Status s = WriteFileAtomic(TmpDir() + "/no_such_dir/f", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no_such_dir"), std::string::npos);
}

TEST(FileUtilTest, ManifestPathsResolveInTheManifestsFolder) {
  EXPECT_EQ(ManifestFolder("data/edits.jsonl"), "data");
  EXPECT_EQ(ManifestFolder("/edits.jsonl"), "/");
  EXPECT_EQ(ManifestFolder("edits.jsonl"), "");
  EXPECT_EQ(ResolveInFolder("data", "a/1.png"), "data/a/1.png");
  EXPECT_EQ(ResolveInFolder("/", "1.png"), "/1.png");
  EXPECT_EQ(ResolveInFolder("", "1.png"), "1.png");
  EXPECT_EQ(ResolveInFolder("data", "/abs/1.png"), "/abs/1.png");
  EXPECT_TRUE(IsBlankOrCommentLine(" \t\r"));
  EXPECT_TRUE(IsBlankOrCommentLine("  # note"));
  EXPECT_FALSE(IsBlankOrCommentLine(" {\"a\": 1}"));
}

}  // namespace
}  // namespace reca
