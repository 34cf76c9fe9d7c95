#include "common/memory_kv_store.h"

namespace reca {

absl::StatusOr<std::optional<std::string>> MemoryKvStore::Get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::StatusOr<std::vector<KeyValue>> MemoryKvStore::ScanPage(const std::string& prefix,
                                                          const std::string& start_after,
                                                          size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<KeyValue> out;
  auto it = start_after.empty() || start_after < prefix ? data_.lower_bound(prefix)
                                                        : data_.upper_bound(start_after);
  for (; it != data_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (limit > 0 && out.size() == limit) break;
    out.push_back(*it);
  }
  return out;
}

absl::Status MemoryKvStore::Write(const WriteBatch& batch) {
  const int64_t n = writes_.fetch_add(1);
  const int64_t fail_after = fail_after_.load();
  if (fail_after >= 0 && n >= fail_after) {
    return absl::UnavailableError("memory store: injected write failure");
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.is_delete) {
      data_.erase(op.key);
    } else {
      data_[op.key] = op.value;
    }
  }
  return absl::OkStatus();
}

}  // namespace reca
