#pragma once

/// @file
/// `Result<T>`: a value or an `mlbridge::Error`, used on every path that can fail for reasons
/// outside the program (bad input, a dead worker, a timeout). Exceptions are kept for programming
/// errors. A Result is a plain value: no thread affinity.

#include <cassert>
#include <utility>
#include <variant>

#include "mlbridge/errors/error.hpp"

namespace mlbridge {

/// Wraps an Error so that `return Unexpected{err};` reads clearly in functions returning Result.
struct Unexpected {
  Error error;
};

/// Makes the failure side of a Result.
inline Unexpected fail(ErrorCategory category, std::string message) {
  return Unexpected{Error::make(category, std::move(message))};
}

/// A value of type T or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Unexpected failure)                                               // NOLINT
      : storage_(std::in_place_index<1>, std::move(failure.error)) {}
  Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(storage_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(storage_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(storage_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(storage_);
  }
  Error& error() & {
    assert(!ok());
    return std::get<1>(storage_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(storage_));
  }

 private:
  std::variant<T, Error> storage_;
};

/// Result of an operation that has no value on success.
struct Ok {};
using Status = Result<Ok>;

}  // namespace mlbridge
