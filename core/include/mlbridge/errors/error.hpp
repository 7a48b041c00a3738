#pragma once

/// @file
/// mlbridge's error value: a category from DESIGN.md plus everything a user needs to act on it.
/// Plain value type; any thread may create, copy or read one.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mlbridge {

/// The error categories of DESIGN.md. Every failure a caller can see maps to exactly one.
enum class ErrorCategory {
  kInvalidArgument,
  kInvalidConfiguration,
  kNotFound,
  kAuthentication,
  kRateLimit,
  kModelError,
  kResourceExhausted,
  kTimeout,
  kCancelled,
  kOverloaded,
  kWorkerCrashed,
  kSessionLost,
  kSessionMoved,  ///< Another host holds the session's lease (docs/sessions.md).
  kBridgeUnavailable,
  kProtocolError,
  kInternal,
};

/// The wire/config spelling of a category, e.g. "worker_crashed".
std::string_view to_string(ErrorCategory category);

/// Parses a category name; nullopt for an unknown name.
std::optional<ErrorCategory> parse_error_category(std::string_view name);

/// Whether a retry of the same call may succeed, by default, for a category.
bool is_retryable_by_default(ErrorCategory category);

/// One failure, with enough context to say what happened, to what, and what to do.
struct Error {
  ErrorCategory category = ErrorCategory::kInternal;
  std::string message;      ///< Human-readable, complete sentence(s); names the subject.
  std::string bridge;       ///< Bridge name, empty when not bridge-related.
  std::string command;      ///< Command being run, empty when none.
  std::string python_type;  ///< Python exception class name, when the error came from Python.
  std::string traceback;    ///< Python traceback, when there is one.
  std::string worker_id;    ///< Worker that produced or suffered the error, when known.
  bool retryable = false;   ///< Whether the same call may succeed if tried again.
  /// When a retry may succeed at the earliest, when known (session_moved: the lease the other
  /// host still holds); the HTTP API sends it as Retry-After.
  std::optional<std::chrono::milliseconds> retry_after;

  /// Makes an error with the category's default retryability.
  static Error make(ErrorCategory category, std::string message);

  /// "category: message" plus the Python type when present; one line for logs and CLIs.
  std::string describe() const;
};

}  // namespace mlbridge
