// One test base for every KvStore back-end (STYLE.md §5), plus what only
// RocksDB promises: reopen, a crash right after an acknowledged write, errors.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "common/memory_kv_store.h"
#include "common/rocksdb_kv_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reca {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string FreshDir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(t ? t : "/tmp") + "/kv_" + name + "_" + std::to_string(::getpid());
  std::system(("rm -rf '" + dir + "'").c_str());
  return dir;
}

enum class Backend { kMemory, kRocksDb };

class KvStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMemory) {
      store_ = std::make_unique<MemoryKvStore>();
    } else {
      auto db = RocksDbKvStore::Open(FreshDir("shared"));
      ASSERT_TRUE(db.ok()) << db.status();
      store_ = std::move(*db);
    }
  }
  std::unique_ptr<KvStore> store_;
};

TEST_P(KvStoreTest, GetPutDelete) {
  auto missing = store_->Get("job/1");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store_->Write(WriteBatch().Put("job/1", "queued")).ok());
  EXPECT_EQ(store_->Get("job/1")->value_or(""), "queued");
  ASSERT_TRUE(store_->Write(WriteBatch().Put("job/1", "running")).ok());
  EXPECT_EQ(store_->Get("job/1")->value_or(""), "running");
  ASSERT_TRUE(store_->Write(WriteBatch().Delete("job/1")).ok());
  EXPECT_FALSE(store_->Get("job/1")->has_value());
  // Binary-safe keys and values.
  const std::string key("k\0ey", 4), value("v\0\xff", 3);
  ASSERT_TRUE(store_->Write(WriteBatch().Put(key, value)).ok());
  EXPECT_EQ(store_->Get(key)->value_or(""), value);
}

TEST_P(KvStoreTest, BatchAppliesInOrder) {
  WriteBatch b;
  b.Put("job/7", "queued").Put("event/7/0001", "submitted").Put("idem/req-1", "7").Delete("idem/req-1")
      .Put("idem/req-1", "7b");
  ASSERT_TRUE(store_->Write(b).ok());
  EXPECT_EQ(store_->Get("job/7")->value_or(""), "queued");
  EXPECT_EQ(store_->Get("event/7/0001")->value_or(""), "submitted");
  EXPECT_EQ(store_->Get("idem/req-1")->value_or(""), "7b");
}

TEST_P(KvStoreTest, ScanByPrefixWithPaging) {
  WriteBatch b;
  for (const char* k : {"job/a", "job/b", "job/c", "joc/x", "jo", "job/"}) b.Put(k, std::string("v") + k);
  ASSERT_TRUE(store_->Write(b).ok());
  auto all = store_->Scan("job/");
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre(Pair("job/", "vjob/"), Pair("job/a", "vjob/a"), Pair("job/b", "vjob/b"),
                                Pair("job/c", "vjob/c")));
  auto page1 = store_->Scan("job/", "", 2);
  ASSERT_TRUE(page1.ok());
  EXPECT_THAT(*page1, ElementsAre(Pair("job/", "vjob/"), Pair("job/a", "vjob/a")));
  auto page2 = store_->Scan("job/", page1->back().first, 2);
  ASSERT_TRUE(page2.ok());
  EXPECT_THAT(*page2, ElementsAre(Pair("job/b", "vjob/b"), Pair("job/c", "vjob/c")));
  auto page3 = store_->Scan("job/", page2->back().first, 2);
  ASSERT_TRUE(page3.ok());
  EXPECT_TRUE(page3->empty());
  EXPECT_TRUE(store_->Scan("nothing/")->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, KvStoreTest, ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const auto& info) {
                           return info.param == Backend::kMemory ? std::string("Memory")
                                                                 : std::string("RocksDb");
                         });

TEST(MemoryKvStoreTest, InjectedWriteFailureChangesNothing) {
  MemoryKvStore store;
  ASSERT_TRUE(store.Write(WriteBatch().Put("a", "1")).ok());
  store.FailWritesAfter(1);
  absl::Status s = store.Write(WriteBatch().Put("a", "2").Put("b", "2"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Get("a")->value_or(""), "1");
  EXPECT_FALSE(store.Get("b")->has_value());
  store.FailWritesAfter(-1);
  EXPECT_TRUE(store.Write(WriteBatch().Put("b", "3")).ok());
}

TEST(RocksDbKvStoreTest, ReopenKeepsEverything) {
  const std::string dir = FreshDir("reopen");
  {
    auto db = RocksDbKvStore::Open(dir);
    ASSERT_TRUE(db.ok()) << db.status();
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE((*db)->Write(WriteBatch().Put("job/" + std::to_string(1000 + i), "s" + std::to_string(i))).ok());
    }
  }
  auto db = RocksDbKvStore::Open(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  auto all = (*db)->Scan("job/");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 100u);
  EXPECT_EQ((*all)[42].second, "s42");
}

TEST(RocksDbKvStoreTest, MakesTheFoldersAboveTheDatabase) {
  const std::string dir = FreshDir("parents") + "/a/b/db";
  auto db = RocksDbKvStore::Open(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Write(WriteBatch().Put("k", "v")).ok());
  // A parent that cannot be made: the error names the database and the folder.
  auto blocked = RocksDbKvStore::Open("/proc/reca-no/db");
  ASSERT_FALSE(blocked.ok());
  EXPECT_THAT(std::string(blocked.status().message()),
              HasSubstr("opening the state database /proc/reca-no/db: creating /proc/reca-no"));
}

// The writer of AcknowledgedWritesSurviveKill9, in a fresh process (exec'd,
// not just forked: RocksDB's thread pools do not survive a fork). Does
// nothing unless KV_CHILD_DIR is set.
TEST(RocksDbKvStoreTest, ChildWriter) {
  const char* dir = std::getenv("KV_CHILD_DIR");
  const char* fd = std::getenv("KV_CHILD_FD");
  if (dir == nullptr || fd == nullptr) GTEST_SKIP() << "only as AcknowledgedWritesSurviveKill9's child";
  const int ack = std::atoi(fd);
  auto db = RocksDbKvStore::Open(dir);
  if (!db.ok()) ::_exit(3);
  for (int i = 0;; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "event/%08d", i);
    if (!(*db)->Write(WriteBatch().Put(key, std::string(100, 'x'))).ok()) ::_exit(4);
    if (::write(ack, &i, sizeof(i)) != sizeof(i)) ::_exit(5);  // acknowledged after the synced write
  }
}

TEST(RocksDbKvStoreTest, AcknowledgedWritesSurviveKill9) {
  // A child acknowledges synced writes on a pipe, one by one, and is killed
  // with SIGKILL mid-stream; every write it acknowledged must be there.
  const std::string dir = FreshDir("kill9");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::setenv("KV_CHILD_DIR", dir.c_str(), 1);
    ::setenv("KV_CHILD_FD", std::to_string(fds[1]).c_str(), 1);
    ::execl("/proc/self/exe", "kv_store_test", "--gtest_filter=RocksDbKvStoreTest.ChildWriter",
            static_cast<char*>(nullptr));
    ::_exit(6);
  }
  ::close(fds[1]);
  int last = -1, got = 0;
  while (got < 50 && ::read(fds[0], &last, sizeof(last)) == sizeof(last)) ++got;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_GE(last, 0);
  auto db = RocksDbKvStore::Open(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  auto events = (*db)->Scan("event/");
  ASSERT_TRUE(events.ok());
  EXPECT_GE(static_cast<int>(events->size()), last + 1) << "acknowledged " << last + 1;
}

TEST(RocksDbKvStoreTest, OpenErrorsNameThePath) {
  const std::string dir = FreshDir("locked");
  auto first = RocksDbKvStore::Open(dir);
  ASSERT_TRUE(first.ok());
  auto second = RocksDbKvStore::Open(dir);  // the LOCK file is held
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("opening the state database " + dir));
  auto bad = RocksDbKvStore::Open("/proc/reca-cannot-create-this");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("/proc/reca-cannot-create-this"));
}

}  // namespace
}  // namespace reca
