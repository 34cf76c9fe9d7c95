// The coordinator's durable state goes through this key-value interface
// (DESIGN.md §5.2, STYLE.md §5): RocksDB in production (rocksdb_kv_store.h),
// an in-memory map in unit tests (memory_kv_store.h). A WriteBatch is applied
// atomically and, for RocksDB, synced to disk before Write returns: once a
// state transition is acknowledged, a crash cannot lose it.
#ifndef RECA_COMMON_KV_STORE_H_
#define RECA_COMMON_KV_STORE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace reca {

class WriteBatch {
 public:
  struct Op {
    bool is_delete = false;
    std::string key, value;
  };
  WriteBatch& Put(std::string key, std::string value) {
    ops_.push_back({false, std::move(key), std::move(value)});
    return *this;
  }
  WriteBatch& Delete(std::string key) {
    ops_.push_back({true, std::move(key), ""});
    return *this;
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  // Synced (the default): on disk before Write returns; what acknowledges a
  // state transition. Buffered: in the write-ahead log but not fsync'd, so it
  // survives a crash of the process but not of the machine (metric points).
  WriteBatch& set_sync(bool sync) {
    sync_ = sync;
    return *this;
  }
  bool sync() const { return sync_; }
  size_t ByteSize() const {
    size_t n = 0;
    for (const Op& op : ops_) n += op.key.size() + op.value.size();
    return n;
  }

 private:
  std::vector<Op> ops_;
  bool sync_ = true;
};

using KeyValue = std::pair<std::string, std::string>;

class KvStore {
 public:
  virtual ~KvStore() = default;
  // The value of `key`, or std::nullopt when absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const = 0;
  // Keys starting with `prefix`, in byte order, strictly after `start_after`
  // (empty: from the first), at most `limit` (0: all): paging.
  absl::StatusOr<std::vector<KeyValue>> Scan(const std::string& prefix, const std::string& start_after = "",
                                             size_t limit = 0) const {
    return ScanPage(prefix, start_after, limit);
  }
  // Applies every operation of `batch` atomically (all or none), durably
  // unless the batch says otherwise (WriteBatch::set_sync).
  virtual absl::Status Write(const WriteBatch& batch) = 0;

 protected:
  virtual absl::StatusOr<std::vector<KeyValue>> ScanPage(const std::string& prefix,
                                                         const std::string& start_after,
                                                         size_t limit) const = 0;
};

}  // namespace reca

#endif  // RECA_COMMON_KV_STORE_H_
