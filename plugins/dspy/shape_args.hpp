#pragma once

/// @file
/// The one argument check the host makes before a DSPy call leaves it: an API key in
/// configure_lm's arguments is refused here, so that it never reaches a worker's pipe, stderr or
/// history. (The bridge refuses it too; this keeps the key inside the caller's process.)

#include <nlohmann/json.hpp>
#include <string_view>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// `args` unchanged, or throws std::invalid_argument (the SDK reports it as invalid_argument)
/// with a message that names the argument and never repeats its value.
json shape_dspy_args(std::string_view command, json args);

}  // namespace mlbridge::dspy_plugin
