// Status vocabulary of the ML core.
//
// With Abseil available (every CPU build, RECA_USE_ABSL=1) reca::Status *is*
// absl::Status, so the service layers above pass it through unchanged. The
// CUDA build of reca/ + reca-train on a GPU machine has nothing but LibTorch,
// so there the same names resolve to a minimal look-alike with the subset of
// the API that reca/ uses (kept honest by status_fallback_test).
#ifndef RECA_STATUS_H_
#define RECA_STATUS_H_

#if defined(RECA_USE_ABSL) && RECA_USE_ABSL && !defined(RECA_FORCE_FALLBACK_STATUS)
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace reca {
using Status = absl::Status;
using StatusCode = absl::StatusCode;
template <typename T>
using StatusOr = absl::StatusOr<T>;
using absl::AbortedError;
using absl::DataLossError;
using absl::FailedPreconditionError;
using absl::InternalError;
using absl::InvalidArgumentError;
using absl::NotFoundError;
using absl::OkStatus;
using absl::OutOfRangeError;
using absl::ResourceExhaustedError;
using absl::UnavailableError;
using absl::UnimplementedError;
}  // namespace reca

#else
#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace reca {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(code == StatusCode::kOk ? "" : std::move(message)) {}
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const {
    return ok() ? "OK" : CodeName(code_) + ": " + message_;
  }
  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  static std::string CodeName(StatusCode c) {
    static const char* kNames[] = {
        "OK",        "CANCELLED",         "UNKNOWN",  "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"};
    return kNames[static_cast<int>(c)];
  }
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline std::ostream& operator<<(std::ostream& os, const Status& s) {
  return os << s.ToString();
}

inline Status OkStatus() { return Status(); }
#define RECA_FALLBACK_ERROR_(Name, Code) \
  inline Status Name(std::string m) { return Status(StatusCode::Code, std::move(m)); }
RECA_FALLBACK_ERROR_(AbortedError, kAborted)
RECA_FALLBACK_ERROR_(DataLossError, kDataLoss)
RECA_FALLBACK_ERROR_(FailedPreconditionError, kFailedPrecondition)
RECA_FALLBACK_ERROR_(InternalError, kInternal)
RECA_FALLBACK_ERROR_(InvalidArgumentError, kInvalidArgument)
RECA_FALLBACK_ERROR_(NotFoundError, kNotFound)
RECA_FALLBACK_ERROR_(OutOfRangeError, kOutOfRange)
RECA_FALLBACK_ERROR_(ResourceExhaustedError, kResourceExhausted)
RECA_FALLBACK_ERROR_(UnavailableError, kUnavailable)
RECA_FALLBACK_ERROR_(UnimplementedError, kUnimplemented)
#undef RECA_FALLBACK_ERROR_

template <typename T>
class StatusOr {
 public:
  StatusOr(Status s) : status_(std::move(s)) { assert(!status_.ok()); }
  StatusOr(T v) : value_(std::move(v)) {}
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace reca
#endif

// Propagates a non-OK status to the caller.
#define RECA_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::reca::Status reca_status_ = (expr);        \
    if (!reca_status_.ok()) return reca_status_; \
  } while (0)

#define RECA_STATUS_CONCAT_INNER_(a, b) a##b
#define RECA_STATUS_CONCAT_(a, b) RECA_STATUS_CONCAT_INNER_(a, b)
// `RECA_ASSIGN_OR_RETURN(auto x, Foo());` assigns the value or returns the error.
#define RECA_ASSIGN_OR_RETURN(lhs, expr) \
  RECA_ASSIGN_OR_RETURN_IMPL_(RECA_STATUS_CONCAT_(reca_statusor_, __LINE__), lhs, expr)
#define RECA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // RECA_STATUS_H_
