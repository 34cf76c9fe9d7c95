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

// A MANIFEST.json as CheckpointStore writes it (its file list left empty).
std::string Manifest(int64_t step, int64_t epoch) {
  return "{\"format\": \"reca-checkpoint/1\", \"step\": " + std::to_string(step) +
         ", \"epoch\": " + std::to_string(epoch) + ", \"files\": []}";
}

TEST(CheckpointScannerTest, ReportsEachCommittedCheckpointOnceInStepOrder) {
  const std::string dir = testing::TempDir() + "/scanner/checkpoints";
  fs::remove_all(dir);
  CheckpointScanner scanner(dir);
  std::vector<std::string> errors;
  EXPECT_TRUE(scanner.ScanNew(&errors).empty());  // no directory yet
  EXPECT_TRUE(errors.empty());

  Write(dir + "/step-00000020/weights", std::string(100, 'w'));
  Write(dir + "/step-00000020/MANIFEST.json", Manifest(20, 4));
  Write(dir + "/step-00000010/weights", std::string(7, 'w'));
  Write(dir + "/step-00000010/sub/extra", "abc");
  Write(dir + "/step-00000010/MANIFEST.json", Manifest(10, 3));
  Write(dir + "/step-00000030/weights", "no manifest");
  Write(dir + "/.tmp-step-00000040-1/MANIFEST.json", "{}");
  Write(dir + "/step-00000050", "a file, not a directory");

  std::vector<CommittedCheckpoint> found = scanner.ScanNew(&errors);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].step, 10);
  EXPECT_EQ(found[0].path, dir + "/step-00000010");
  EXPECT_EQ(found[0].bytes, static_cast<int64_t>(7 + 3 + Manifest(10, 3).size()));
  EXPECT_EQ(found[0].manifest_sha256, Sha256Hex(Manifest(10, 3)));
  EXPECT_EQ(found[0].epoch, 3);  // the committing attempt's, from the manifest
  EXPECT_EQ(found[1].step, 20);
  EXPECT_EQ(found[1].bytes, static_cast<int64_t>(100 + Manifest(20, 4).size()));
  EXPECT_EQ(found[1].epoch, 4);
  EXPECT_TRUE(errors.empty());

  EXPECT_TRUE(scanner.ScanNew().empty());
  // A malformed manifest is no checkpoint to report: an error, tried again.
  Write(dir + "/step-00000030/MANIFEST.json", "{}");
  EXPECT_TRUE(scanner.ScanNew(&errors).empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("step-00000030/MANIFEST.json: malformed manifest"), std::string::npos)
      << errors[0];
  Write(dir + "/step-00000030/MANIFEST.json", Manifest(30, 0));  // a standalone run's
  found = scanner.ScanNew();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].step, 30);
  EXPECT_EQ(found[0].epoch, 0);
}

// An earlier attempt's step 20, found and returned, then discarded by the new
// attempt's rank 0, which commits its own step 20: that one is returned too.
TEST(CheckpointScannerTest, AStepCommittedAgainIsReturnedAgain) {
  const std::string dir = testing::TempDir() + "/scanner_again/checkpoints";
  fs::remove_all(dir);
  CheckpointScanner scanner(dir);
  Write(dir + "/step-00000020/MANIFEST.json", Manifest(20, 4));
  std::vector<CommittedCheckpoint> found = scanner.ScanNew();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].epoch, 4);
  fs::remove_all(dir + "/step-00000020");
  EXPECT_TRUE(scanner.ScanNew().empty());
  Write(dir + "/step-00000020/MANIFEST.json", Manifest(20, 5));
  found = scanner.ScanNew();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].step, 20);
  EXPECT_EQ(found[0].epoch, 5);
  EXPECT_EQ(found[0].manifest_sha256, Sha256Hex(Manifest(20, 5)));
  EXPECT_TRUE(scanner.ScanNew().empty());  // once
}

}  // namespace
}  // namespace reca
