#include "reca/edit_manifest.h"

#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"
#include "reca/file_util.h"

namespace reca {
namespace {

TEST(EditManifestTest, ResolvesRelativePathsAgainstTheManifestsFolder) {
  auto entries = ParseEditManifest(
      "# edit pairs\n"
      "{\"source\": \"src/a.png\", \"instruction\": \"make the circle blue\", "
      "\"target\": \"tgt/a.png\", \"category\": \"adjust\"}\n"
      "\n"
      "{\"source\": \"/abs/b.png\", \"instruction\": \"remove the square\", "
      "\"target\": \"b.png\"}\n",
      "/data/edits/manifest.jsonl");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].source, "/data/edits/src/a.png");
  EXPECT_EQ((*entries)[0].instruction, "make the circle blue");
  EXPECT_EQ((*entries)[0].target, "/data/edits/tgt/a.png");
  EXPECT_EQ((*entries)[0].line, 2);
  EXPECT_EQ((*entries)[1].source, "/abs/b.png");
  EXPECT_EQ((*entries)[1].target, "/data/edits/b.png");
  EXPECT_EQ((*entries)[1].line, 4);

  // A bare file name keeps paths as written.
  auto bare = ParseEditManifest(
      R"({"source": "s.png", "instruction": "x", "target": "t.png"})", "m.jsonl");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ((*bare)[0].source, "s.png");
}

TEST(EditManifestTest, ErrorsNameFileLineAndField) {
  const std::string m = "dir/m.jsonl";
  auto expect_error = [&](const std::string& text, const std::string& want) {
    auto r = ParseEditManifest(text, m);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(r.status().message()).find(want), std::string::npos)
        << r.status();
  };
  const std::string good =
      R"({"source": "a.png", "instruction": "x", "target": "b.png"})";
  expect_error(good + "\n{not json\n", "dir/m.jsonl:2: not valid JSON");
  expect_error("[1, 2]\n", "dir/m.jsonl:1: expected a JSON object");
  expect_error(good + "\n\n" + R"({"source": "a.png", "instruction": "x"})",
               "dir/m.jsonl:3: \"target\" must be a non-empty string");
  expect_error(R"({"source": "a.png", "instruction": "", "target": "b.png"})",
               "dir/m.jsonl:1: \"instruction\" must be a non-empty string");
  expect_error(R"({"source": 3, "instruction": "x", "target": "b.png"})",
               "dir/m.jsonl:1: \"source\" must be a non-empty string");
  expect_error("# only a comment\n", "edit manifest dir/m.jsonl: no entries");
}

TEST(EditManifestTest, ReadsFromDisk) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(t ? t : "/tmp") + "/edit_manifest_" +
                          std::to_string(::getpid());
  ASSERT_TRUE(MakeDirs(dir).ok());
  const std::string path = dir + "/pairs.jsonl";
  ASSERT_TRUE(WriteFileAtomic(path, R"({"source": "a.png", "instruction": "x", "target": "b.png"})"
                                    "\n")
                  .ok());
  auto entries = ReadEditManifest(path);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].target, dir + "/b.png");
  EXPECT_FALSE(ReadEditManifest(dir + "/missing.jsonl").ok());
}

}  // namespace
}  // namespace reca
