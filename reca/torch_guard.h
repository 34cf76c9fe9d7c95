// The one boundary where LibTorch exceptions become reca::Status.
//
// Everything in reca/ that calls into LibTorch from a public entry point goes
// through TorchGuard / TorchGuardOr; nothing above reca/ sees an exception.
// Out-of-memory maps to RESOURCE_EXHAUSTED (a non-retryable class for the
// scheduler), index/value/type errors to INVALID_ARGUMENT, the rest INTERNAL.
#ifndef RECA_TORCH_GUARD_H_
#define RECA_TORCH_GUARD_H_

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <c10/util/Exception.h>

#include "reca/status.h"

namespace reca {

inline Status StatusFromTorchError(const std::string& context, const c10::Error& e) {
  std::string msg = context + ": " + e.what_without_backtrace();
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
      msg.find("out of memory") != std::string::npos) {
    return ResourceExhaustedError(msg);
  }
  if (dynamic_cast<const c10::IndexError*>(&e) != nullptr ||
      dynamic_cast<const c10::ValueError*>(&e) != nullptr ||
      dynamic_cast<const c10::TypeError*>(&e) != nullptr) {
    return InvalidArgumentError(msg);
  }
  return InternalError(msg);
}

// Converts the exception being handled (call only inside a catch block).
inline Status CurrentExceptionToStatus(const std::string& context) {
  try {
    throw;
  } catch (const c10::Error& e) {
    return StatusFromTorchError(context, e);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError(context + ": out of host memory");
  } catch (const std::exception& e) {
    return InternalError(context + ": " + e.what());
  } catch (...) {
    return InternalError(context + ": unknown exception");
  }
}

// Runs `f` (returning void or Status) and converts any exception.
template <typename F>
Status TorchGuard(const std::string& context, F&& f) {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
      std::forward<F>(f)();
      return OkStatus();
    } else {
      return std::forward<F>(f)();
    }
  } catch (...) {
    return CurrentExceptionToStatus(context);
  }
}

namespace internal {
template <typename T>
struct UnwrapStatusOr {
  using type = T;
};
template <typename T>
struct UnwrapStatusOr<StatusOr<T>> {
  using type = T;
};
}  // namespace internal

// Runs `f` returning T (or StatusOr<T>) and converts any exception into the
// error status.
template <typename F,
          typename T = typename internal::UnwrapStatusOr<std::invoke_result_t<F>>::type>
StatusOr<T> TorchGuardOr(const std::string& context, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (...) {
    return CurrentExceptionToStatus(context);
  }
}

}  // namespace reca

#endif  // RECA_TORCH_GUARD_H_
