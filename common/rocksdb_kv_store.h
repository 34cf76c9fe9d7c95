// KvStore on RocksDB: every Write is one WriteBatch with sync = true (the WAL
// is fsync'd before Write returns), so an acknowledged state transition
// survives a crash of the process or the machine.
#ifndef RECA_COMMON_ROCKSDB_KV_STORE_H_
#define RECA_COMMON_ROCKSDB_KV_STORE_H_

#include <memory>
#include <string>

#include "common/kv_store.h"

namespace rocksdb {
class DB;
}

namespace reca {

class RocksDbKvStore : public KvStore {
 public:
  // Opens (creating if missing) the database in directory `path`. A path
  // that cannot be opened (permissions, a lock held by another process, a
  // corrupt database) is an error naming it.
  static absl::StatusOr<std::unique_ptr<RocksDbKvStore>> Open(const std::string& path);
  ~RocksDbKvStore() override;

  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const override;
  absl::Status Write(const WriteBatch& batch) override;

 protected:
  absl::StatusOr<std::vector<KeyValue>> ScanPage(const std::string& prefix, const std::string& start_after,
                                                 size_t limit) const override;

  const std::string& path() const { return path_; }

 private:
  RocksDbKvStore(std::string path, rocksdb::DB* db);
  std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace reca

#endif  // RECA_COMMON_ROCKSDB_KV_STORE_H_
