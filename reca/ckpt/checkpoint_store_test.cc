#include "reca/ckpt/checkpoint_store.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "reca/ckpt/sha256.h"

namespace reca {
namespace {

namespace fs = std::filesystem;
using Files = std::map<std::string, std::string>;

std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    std::memcpy(&s[i], &x, 8);
  }
  for (; i < n; ++i) s[i] = static_cast<char>(i * 31 + seed);
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Entries of `dir` starting with '.' (work directories).
std::vector<std::string> HiddenEntries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name[0] == '.') out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> Steps(const CheckpointStore& store) {
  StatusOr<std::vector<CheckpointInfo>> list = store.List();
  EXPECT_TRUE(list.ok()) << list.status();
  std::vector<int64_t> steps;
  if (list.ok()) {
    for (const CheckpointInfo& info : *list) steps.push_back(info.step);
  }
  return steps;
}

// The pid of a process that has exited and been reaped.
pid_t DeadPid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = ::testing::TempDir() + "/ckpt_" + info->name();
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string root_;
};

TEST_F(CheckpointStoreTest, CommitListLoadRoundTrip) {
  CheckpointStore store(root_ + "/nested/root");  // created on demand
  EXPECT_TRUE(Steps(store).empty());              // a missing root lists empty
  const Files files = {{"model.safetensors", Bytes(100000, 1)},
                       {"optimizer.safetensors", Bytes(3333, 2)},
                       {"meta.json", "{\"step\": 7}"},
                       {"empty", ""}};
  StatusOr<std::string> dir = store.Commit(7, files, /*keep=*/0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, root_ + "/nested/root/step-00000007");

  StatusOr<std::vector<CheckpointInfo>> list = store.List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].step, 7);
  EXPECT_EQ((*list)[0].path, *dir);

  StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, files);

  const nlohmann::json manifest = nlohmann::json::parse(ReadAll(*dir + "/MANIFEST.json"));
  EXPECT_EQ(manifest["format"], "reca-checkpoint/1");
  EXPECT_EQ(manifest["step"], 7);
  ASSERT_EQ(manifest["files"].size(), files.size());
  for (const auto& entry : manifest["files"]) {
    const std::string& bytes = files.at(entry["name"].get<std::string>());
    EXPECT_EQ(entry["size"], bytes.size());
    EXPECT_EQ(entry["sha256"], Sha256Hex(bytes));
  }
  EXPECT_TRUE(HiddenEntries(store.root()).empty());
}

TEST_F(CheckpointStoreTest, ManifestCarriesTheCommittingAttemptsEpoch) {
  CheckpointStore fenced(root_, /*epoch=*/12);
  StatusOr<std::string> dir = fenced.Commit(4, {{"x", "1"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string path = *dir + "/MANIFEST.json";
  StatusOr<CheckpointManifest> m = ParseCheckpointManifest(ReadAll(path), path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->step, 4);
  EXPECT_EQ(m->epoch, 12);
  // A standalone store writes none, which reads as 0.
  dir = CheckpointStore(root_).Commit(8, {{"x", "1"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string text = ReadAll(*dir + "/MANIFEST.json");
  EXPECT_EQ(text.find("epoch"), std::string::npos);
  m = ParseCheckpointManifest(text, *dir + "/MANIFEST.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->epoch, 0);
}

TEST_F(CheckpointStoreTest, ListSortsByStepAndIgnoresOtherEntries) {
  CheckpointStore store(root_);
  for (int64_t step : {20, 3, 100000000}) ASSERT_TRUE(store.Commit(step, {{"a", "x"}}, 0).ok());
  fs::create_directories(root_ + "/step-00000050");  // no manifest: not committed
  fs::create_directories(root_ + "/step-x1");
  fs::create_directories(root_ + "/other");
  WriteAll(root_ + "/step-00000060", "a file, not a directory");
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{3, 20, 100000000}));
}

TEST_F(CheckpointStoreTest, RetentionKeepsNewest) {
  CheckpointStore store(root_);
  for (int64_t step = 1; step <= 4; ++step) {
    ASSERT_TRUE(store.Commit(step, {{"w", Bytes(1000, step)}}, /*keep=*/2).ok());
  }
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{3, 4}));
  EXPECT_FALSE(fs::exists(root_ + "/step-00000001"));
  EXPECT_FALSE(fs::exists(root_ + "/step-00000002"));
  EXPECT_TRUE(HiddenEntries(root_).empty());
  // keep <= 0 keeps everything.
  ASSERT_TRUE(store.Commit(5, {{"w", "x"}}, 0).ok());
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{3, 4, 5}));
}

TEST_F(CheckpointStoreTest, RetentionNeverDeletesTheNewCheckpoint) {
  CheckpointStore store(root_);
  ASSERT_TRUE(store.Commit(10, {{"w", "a"}}, 0).ok());
  ASSERT_TRUE(store.Commit(11, {{"w", "b"}}, 0).ok());
  StatusOr<std::string> dir = store.Commit(5, {{"w", "c"}}, /*keep=*/2);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(CheckpointStore::LoadVerified(*dir).ok());
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{5, 11}));
}

TEST_F(CheckpointStoreTest, DeleteIsIdempotent) {
  CheckpointStore store(root_);
  StatusOr<std::string> a = store.Commit(1, {{"w", Bytes(1000, 1)}}, 0);
  StatusOr<std::string> b = store.Commit(2, {{"w", Bytes(1000, 2)}}, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(CheckpointStore::Delete(*a).ok());
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{2}));
  EXPECT_TRUE(HiddenEntries(root_).empty());  // nothing left aside
  const Status again = CheckpointStore::Delete(*a);  // already gone: success
  EXPECT_TRUE(again.ok()) << again;
  ASSERT_TRUE(CheckpointStore::Delete(*b + "/").ok());
  EXPECT_TRUE(Steps(store).empty());
  EXPECT_TRUE(CheckpointStore::Delete(root_ + "/missing/step-00000009").ok());
}

TEST_F(CheckpointStoreTest, FlippedByteIsShaMismatchNamingTheFile) {
  CheckpointStore store(root_);
  const std::string data = Bytes(5000, 3);
  StatusOr<std::string> dir = store.Commit(1, {{"model.safetensors", data}, {"b", "ok"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  std::string bad = data;
  bad[1234] ^= 0x01;
  WriteAll(*dir + "/model.safetensors", bad);

  StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(loaded.status().message(), *dir + "/model.safetensors: SHA-256 mismatch (manifest " +
                                           Sha256Hex(data) + ", file " + Sha256Hex(bad) + ")");
}

TEST_F(CheckpointStoreTest, TruncatedFileIsSizeMismatch) {
  CheckpointStore store(root_);
  StatusOr<std::string> dir = store.Commit(1, {{"x", std::string(120, 'q')}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  fs::resize_file(*dir + "/x", 100);
  StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(loaded.status().message(), *dir + "/x: size 100 != manifest 120");
}

TEST_F(CheckpointStoreTest, MissingFileIsDataLoss) {
  CheckpointStore store(root_);
  StatusOr<std::string> dir = store.Commit(1, {{"x", "1"}, {"y", "2"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  fs::remove(*dir + "/y");
  WriteAll(*dir + "/extra", "not in the manifest: ignored");
  StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(loaded.status().message(), *dir + "/y: missing (listed in the manifest)");
}

TEST_F(CheckpointStoreTest, ExtraFilesAreIgnored) {
  CheckpointStore store(root_);
  StatusOr<std::string> dir = store.Commit(1, {{"x", "1"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  WriteAll(*dir + "/extra", "not in the manifest");
  StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (Files{{"x", "1"}}));
}

TEST_F(CheckpointStoreTest, DeletedManifestIsNotACheckpoint) {
  CheckpointStore store(root_);
  StatusOr<std::string> dir = store.Commit(1, {{"x", "1"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  fs::remove(*dir + "/MANIFEST.json");
  EXPECT_TRUE(Steps(store).empty());
  StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(loaded.status().message(), *dir + ": no MANIFEST.json (not a committed checkpoint)");
}

TEST_F(CheckpointStoreTest, MalformedManifestIsDataLoss) {
  CheckpointStore store(root_);
  StatusOr<std::string> dir = store.Commit(1, {{"x", "1"}}, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string manifest = *dir + "/MANIFEST.json";
  for (const std::string& text :
       {std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 1, \"files\": ["),  // cut
        std::string("[]"), std::string("{\"format\": \"other/2\", \"step\": 1, \"files\": []}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 1, \"files\": "
                    "[{\"name\": \"../x\", \"size\": 1, \"sha256\": \"" +
                    Sha256Hex("1") + "\"}]}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 1, \"files\": "
                    "[{\"name\": \"x\", \"size\": -1, \"sha256\": \"" +
                    Sha256Hex("1") + "\"}]}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 1, \"files\": "
                    "[{\"name\": \"x\", \"size\": 1, \"sha256\": \"abc\"}]}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": -1, \"files\": []}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 18446744073709551615, \"files\": []}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 1, \"epoch\": -3, \"files\": []}"),
        std::string("{\"format\": \"reca-checkpoint/1\", \"step\": 1, \"epoch\": \"7\", \"files\": []}")}) {
    WriteAll(manifest, text);
    StatusOr<Files> loaded = CheckpointStore::LoadVerified(*dir);
    ASSERT_FALSE(loaded.ok()) << text;
    EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss) << text;
    EXPECT_EQ(loaded.status().message().rfind(manifest + ": malformed manifest: ", 0), 0u)
        << loaded.status();
  }
}

TEST_F(CheckpointStoreTest, ExistingStepIsAlreadyExists) {
  CheckpointStore store(root_);
  ASSERT_TRUE(store.Commit(3, {{"x", "old"}}, 0).ok());
  StatusOr<std::string> again = store.Commit(3, {{"x", "new"}}, 0);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status();
  StatusOr<Files> loaded = CheckpointStore::LoadVerified(root_ + "/step-00000003");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->at("x"), "old");
  EXPECT_TRUE(HiddenEntries(root_).empty());
  // An uncommitted directory of that name blocks the step too.
  fs::create_directories(root_ + "/step-00000004");
  EXPECT_EQ(store.Commit(4, {{"x", "y"}}, 0).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(CheckpointStoreTest, StaleWorkDirsAreIgnoredAndSwept) {
  CheckpointStore store(root_);
  ASSERT_TRUE(store.Commit(1, {{"x", "1"}}, 0).ok());
  const std::string dead = std::to_string(DeadPid());
  const std::string live = std::to_string(::getppid());  // alive while we run
  // A dead writer's temp dir, complete down to the manifest, and a half-deleted
  // retention victim: neither is a checkpoint.
  for (const std::string& name : {".tmp-step-00000002-" + dead, ".trash-step-00000000-" + dead,
                                  ".tmp-step-00000009-" + live}) {
    fs::create_directories(root_ + "/" + name);
    WriteAll(root_ + "/" + name + "/MANIFEST.json",
             ReadAll(root_ + "/step-00000001/MANIFEST.json"));
    WriteAll(root_ + "/" + name + "/x", "1");
  }
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{1}));

  ASSERT_TRUE(store.Commit(2, {{"x", "2"}}, 0).ok());
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{1, 2}));
  // The live process's temp dir is left alone.
  EXPECT_EQ(HiddenEntries(root_), (std::vector<std::string>{".tmp-step-00000009-" + live}));
}

TEST_F(CheckpointStoreTest, BadNamesAndStepsAreRejected) {
  CheckpointStore store(root_);
  for (const std::string& name : {std::string(""), std::string("a/b"), std::string("MANIFEST.json"),
                                  std::string("."), std::string(".."), std::string("a\0b", 3),
                                  std::string(300, 'n'), std::string("\xff\xfe")}) {
    StatusOr<std::string> r = store.Commit(1, {{"ok", "1"}, {name, "2"}}, 0);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(r.status().message().find("\"" + name + "\""), std::string::npos) << r.status();
  }
  EXPECT_EQ(store.Commit(-1, {{"ok", "1"}}, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_));  // rejected before touching the disk
}

TEST_F(CheckpointStoreTest, FailureBeforeRenameLeavesNothing) {
  CheckpointStore store(root_);
  for (const std::string point : {"tmp_dir_created", "file_written:a", "file_written:b",
                                  "manifest_written", "tmp_dir_synced"}) {
    store.TEST_SetFaultHook([point](const std::string& p) {
      return p == point ? ResourceExhaustedError("injected at " + p) : OkStatus();
    });
    StatusOr<std::string> r = store.Commit(1, {{"a", "1"}, {"b", "2"}}, 0);
    ASSERT_FALSE(r.ok()) << point;
    EXPECT_EQ(r.status().message(), "injected at " + point);
    EXPECT_TRUE(Steps(store).empty()) << point;
    EXPECT_TRUE(HiddenEntries(root_).empty()) << point;
  }
  // After the rename the checkpoint is there even if the root fsync "fails".
  store.TEST_SetFaultHook(
      [](const std::string& p) { return p == "renamed" ? InternalError("injected") : OkStatus(); });
  EXPECT_FALSE(store.Commit(1, {{"a", "1"}}, 0).ok());
  EXPECT_EQ(Steps(store), (std::vector<int64_t>{1}));
  EXPECT_TRUE(CheckpointStore::LoadVerified(root_ + "/step-00000001").ok());
}

// --- Crash safety: a child process commits and is SIGKILLed. ---

// Forks a child that commits `files` as `step` into `root` (keep = 0) and
// exits 0 on success; with `kill_at`, it SIGKILLs itself at that fault point.
pid_t ForkCommit(const std::string& root, int64_t step, const Files& files,
                 const std::string& kill_at = "") {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  CheckpointStore store(root);
  if (!kill_at.empty()) {
    store.TEST_SetFaultHook([kill_at](const std::string& p) {
      if (p == kill_at) ::raise(SIGKILL);
      return OkStatus();
    });
  }
  ::_exit(store.Commit(step, files, 0).ok() ? 0 : 1);
}

// Every listed checkpoint is complete and verifies, and `survivor` (a step
// committed before) still loads with `survivor_files`. Returns the steps.
std::vector<int64_t> CheckAfterCrash(const std::string& root, int64_t survivor,
                                     const Files& survivor_files) {
  CheckpointStore store(root);
  StatusOr<std::vector<CheckpointInfo>> list = store.List();
  EXPECT_TRUE(list.ok()) << list.status();
  std::vector<int64_t> steps;
  if (!list.ok()) return steps;
  for (const CheckpointInfo& info : *list) {
    steps.push_back(info.step);
    StatusOr<Files> loaded = CheckpointStore::LoadVerified(info.path);
    EXPECT_TRUE(loaded.ok()) << info.path << ": " << loaded.status();
    if (loaded.ok() && info.step == survivor) {
      EXPECT_EQ(*loaded, survivor_files);
    }
  }
  EXPECT_NE(std::find(steps.begin(), steps.end(), survivor), steps.end());
  return steps;
}

TEST_F(CheckpointStoreTest, KilledAtEveryCommitPointLeavesAllOrNothing) {
  const Files survivor = {{"w", Bytes(1000, 9)}};
  ASSERT_TRUE(CheckpointStore(root_).Commit(1, survivor, 0).ok());
  const Files files = {{"a.bin", Bytes(70000, 1)}, {"b.bin", Bytes(5000, 2)}};
  struct Case {
    const char* point;
    bool committed;
  };
  int64_t step = 10;
  for (const Case& c :
       {Case{"tmp_dir_created", false}, Case{"file_written:a.bin", false},
        Case{"file_written:b.bin", false}, Case{"manifest_written", false},
        Case{"tmp_dir_synced", false}, Case{"renamed", true}, Case{"root_synced", true}}) {
    ++step;
    const pid_t pid = ForkCommit(root_, step, files, c.point);
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << c.point;
    const std::vector<int64_t> steps = CheckAfterCrash(root_, 1, survivor);
    EXPECT_EQ(std::find(steps.begin(), steps.end(), step) != steps.end(), c.committed) << c.point;
    if (c.committed) {
      EXPECT_EQ(*CheckpointStore::LoadVerified(root_ + "/step-000000" + std::to_string(step)),
                files);
    }
  }
  // The next commit sweeps the temp dirs the dead children left.
  ASSERT_TRUE(CheckpointStore(root_).Commit(100, files, 0).ok());
  EXPECT_TRUE(HiddenEntries(root_).empty());
}

TEST_F(CheckpointStoreTest, SigkillDuringLargeCommitLeavesOnlyCompleteCheckpoints) {
  using Clock = std::chrono::steady_clock;
  const Files survivor = {{"meta.json", "{}"}, {"w", Bytes(4096, 5)}};
  ASSERT_TRUE(CheckpointStore(root_).Commit(1, survivor, 0).ok());
  const Files big = {{"model.safetensors", Bytes(64 << 20, 7)},
                     {"optim.safetensors", Bytes(1 << 20, 8)}};

  // One uninterrupted run gives the commit's duration on this machine.
  Clock::time_point start = Clock::now();
  pid_t pid = ForkCommit(root_, 2, big);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  EXPECT_EQ(CheckAfterCrash(root_, 1, survivor), (std::vector<int64_t>{1, 2}));
  fs::remove_all(root_ + "/step-00000002");  // keeps each round's verification cheap

  // Kill at spread-out moments across (and a little past) that duration.
  constexpr int kRounds = 10;
  int killed = 0;
  for (int i = 0; i < kRounds; ++i) {
    const int64_t step = 10 + i;
    const auto delay = full * (i + 1) / kRounds + std::chrono::microseconds(137 * i);
    pid = ForkCommit(root_, step, big);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) ++killed;
    const std::vector<int64_t> steps = CheckAfterCrash(root_, 1, survivor);
    for (int64_t s : steps) {
      EXPECT_TRUE(s == 1 || s == step) << s;  // earlier rounds' were removed below
    }
    if (steps.back() == step) fs::remove_all(root_ + "/step-000000" + std::to_string(step));
  }
  std::printf("full commit %.3f s; %d of %d rounds killed mid-commit\n", full.count() / 1e6, killed,
              kRounds);
  // The leftovers of the killed children are swept by the next commit.
  ASSERT_TRUE(CheckpointStore(root_).Commit(99, survivor, 0).ok());
  EXPECT_TRUE(HiddenEntries(root_).empty());
  EXPECT_EQ(CheckAfterCrash(root_, 1, survivor), (std::vector<int64_t>{1, 99}));
}

}  // namespace
}  // namespace reca
