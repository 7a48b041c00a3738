#include "mlbridge/errors/error.hpp"

#include <array>
#include <utility>

namespace mlbridge {
namespace {

struct CategoryName {
  ErrorCategory category;
  std::string_view name;
};

constexpr std::array kCategoryNames{
    CategoryName{ErrorCategory::kInvalidArgument, "invalid_argument"},
    CategoryName{ErrorCategory::kInvalidConfiguration, "invalid_configuration"},
    CategoryName{ErrorCategory::kNotFound, "not_found"},
    CategoryName{ErrorCategory::kAuthentication, "authentication"},
    CategoryName{ErrorCategory::kRateLimit, "rate_limit"},
    CategoryName{ErrorCategory::kModelError, "model_error"},
    CategoryName{ErrorCategory::kResourceExhausted, "resource_exhausted"},
    CategoryName{ErrorCategory::kTimeout, "timeout"},
    CategoryName{ErrorCategory::kCancelled, "cancelled"},
    CategoryName{ErrorCategory::kOverloaded, "overloaded"},
    CategoryName{ErrorCategory::kWorkerCrashed, "worker_crashed"},
    CategoryName{ErrorCategory::kSessionLost, "session_lost"},
    CategoryName{ErrorCategory::kSessionMoved, "session_moved"},
    CategoryName{ErrorCategory::kBridgeUnavailable, "bridge_unavailable"},
    CategoryName{ErrorCategory::kProtocolError, "protocol_error"},
    CategoryName{ErrorCategory::kInternal, "internal"},
};

}  // namespace

std::string_view to_string(ErrorCategory category) {
  for (const auto& entry : kCategoryNames) {
    if (entry.category == category) return entry.name;
  }
  return "internal";
}

std::optional<ErrorCategory> parse_error_category(std::string_view name) {
  for (const auto& entry : kCategoryNames) {
    if (entry.name == name) return entry.category;
  }
  return std::nullopt;
}

bool is_retryable_by_default(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kRateLimit:
    case ErrorCategory::kOverloaded:
    case ErrorCategory::kWorkerCrashed:
    case ErrorCategory::kBridgeUnavailable:
    case ErrorCategory::kTimeout:
    case ErrorCategory::kSessionMoved:
      return true;
    default:
      return false;
  }
}

Error Error::make(ErrorCategory category, std::string message) {
  Error error;
  error.category = category;
  error.message = std::move(message);
  error.retryable = is_retryable_by_default(category);
  return error;
}

std::string Error::describe() const {
  std::string text{to_string(category)};
  text += ": ";
  text += message;
  if (!python_type.empty() && message.find(python_type) == std::string::npos) {
    text += " [" + python_type + "]";
  }
  return text;
}

}  // namespace mlbridge
