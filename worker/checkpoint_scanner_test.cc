#include "worker/checkpoint_scanner.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "reca/ckpt/sha256.h"

namespace reca {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(CheckpointScannerTest, ReportsEachCommittedCheckpointOnceInStepOrder) {
  const std::string dir = testing::TempDir() + "/scanner/checkpoints";
  fs::remove_all(dir);
  CheckpointScanner scanner(dir);
  std::vector<std::string> errors;
  EXPECT_TRUE(scanner.ScanNew(&errors).empty());  // no directory yet
  EXPECT_TRUE(errors.empty());

  Write(dir + "/step-00000020/weights", std::string(100, 'w'));
  Write(dir + "/step-00000020/MANIFEST.json", "{\"step\":20}");
  Write(dir + "/step-00000010/weights", std::string(7, 'w'));
  Write(dir + "/step-00000010/sub/extra", "abc");
  Write(dir + "/step-00000010/MANIFEST.json", "{\"step\":10}");
  Write(dir + "/step-00000030/weights", "no manifest");
  Write(dir + "/.tmp-step-00000040-1/MANIFEST.json", "{}");
  Write(dir + "/step-00000050", "a file, not a directory");

  std::vector<CommittedCheckpoint> found = scanner.ScanNew(&errors);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].step, 10);
  EXPECT_EQ(found[0].path, dir + "/step-00000010");
  EXPECT_EQ(found[0].bytes, 7 + 3 + 11);
  EXPECT_EQ(found[0].manifest_sha256, Sha256Hex("{\"step\":10}"));
  EXPECT_EQ(found[1].step, 20);
  EXPECT_EQ(found[1].bytes, 100 + 11);
  EXPECT_TRUE(errors.empty());

  EXPECT_TRUE(scanner.ScanNew().empty());
  Write(dir + "/step-00000030/MANIFEST.json", "{}");
  found = scanner.ScanNew();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].step, 30);
}

}  // namespace
}  // namespace reca
