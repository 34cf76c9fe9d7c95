// An in-memory KvStore for unit tests, with a fault switch: after
// FailWritesAfter(n), the (n+1)-th and later writes fail with UNAVAILABLE and
// change nothing (a disk error), until the switch is reset.
#ifndef RECA_COMMON_MEMORY_KV_STORE_H_
#define RECA_COMMON_MEMORY_KV_STORE_H_

#include <atomic>
#include <map>
#include <mutex>

#include "common/kv_store.h"

namespace reca {

class MemoryKvStore : public KvStore {
 public:
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const override;
  absl::Status Write(const WriteBatch& batch) override;

  // -1 (default): writes succeed.
  void FailWritesAfter(int64_t n) { fail_after_.store(n); }
  int64_t writes() const { return writes_.load(); }

 protected:
  absl::StatusOr<std::vector<KeyValue>> ScanPage(const std::string& prefix, const std::string& start_after,
                                                 size_t limit) const override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> data_;
  std::atomic<int64_t> fail_after_{-1};
  std::atomic<int64_t> writes_{0};
};

}  // namespace reca

#endif  // RECA_COMMON_MEMORY_KV_STORE_H_
