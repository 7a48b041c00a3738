#pragma once

// Rules the plugin loader and the C adapter share. Private to core/src/plugin/.

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "mlbridge/errors/error.hpp"

namespace mlbridge::plugin::detail {

/// A plugin's name: letters, digits, '_' and '-', not empty (it becomes part of a file name,
/// libmlbridge_<name>.so, and of log lines).
inline bool is_plain_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

/// A plugin that cannot be used as it is: invalid_configuration with `message`.
inline Error configuration_error(std::string message) {
  return Error::make(ErrorCategory::kInvalidConfiguration, std::move(message));
}

}  // namespace mlbridge::plugin::detail
