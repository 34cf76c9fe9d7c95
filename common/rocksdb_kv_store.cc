#include "common/rocksdb_kv_store.h"

#include <filesystem>
#include <system_error>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace reca {
namespace {

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = what + ": " + s.ToString();
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(msg);
  if (s.IsIOError()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbKvStore>> RocksDbKvStore::Open(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Small control-plane records: keep the write path short.
  options.IncreaseParallelism(2);
  options.max_log_file_size = 64 << 20;
  options.keep_log_file_num = 4;
  // RocksDB makes the database's own folder, not its parents
  // (--db=/var/lib/reca/db on a fresh volume).
  if (const std::filesystem::path parent = std::filesystem::path(path).parent_path();
      !parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return absl::UnavailableError("opening the state database " + path + ": creating " +
                                    parent.string() + ": " + error.message());
    }
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) return FromRocks(s, "opening the state database " + path);
  return std::unique_ptr<RocksDbKvStore>(new RocksDbKvStore(path, db));
}

RocksDbKvStore::RocksDbKvStore(std::string path, rocksdb::DB* db) : path_(std::move(path)), db_(db) {}

RocksDbKvStore::~RocksDbKvStore() {
  if (db_) db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::optional<std::string>> RocksDbKvStore::Get(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_ + ": get");
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<std::vector<KeyValue>> RocksDbKvStore::ScanPage(const std::string& prefix,
                                                           const std::string& start_after,
                                                           size_t limit) const {
  std::vector<KeyValue> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  if (start_after.empty() || start_after < prefix) {
    it->Seek(prefix);
  } else {
    it->Seek(start_after);
    if (it->Valid() && it->key() == start_after) it->Next();
  }
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (limit > 0 && out.size() == limit) break;
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), path_ + ": scan " + prefix);
  return out;
}

absl::Status RocksDbKvStore::Write(const WriteBatch& batch) {
  rocksdb::WriteBatch wb;
  for (const WriteBatch::Op& op : batch.ops()) {
    rocksdb::Status s = op.is_delete ? wb.Delete(op.key) : wb.Put(op.key, op.value);
    if (!s.ok()) return FromRocks(s, path_ + ": batch");
  }
  rocksdb::WriteOptions options;
  options.sync = batch.sync();
  return FromRocks(db_->Write(options, &wb), path_ + (batch.sync() ? ": synced write" : ": write"));
}

}  // namespace reca
