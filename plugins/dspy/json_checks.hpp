#pragma once

/// @file
/// Small predicates and wording shared by the config checks: Python's notion of an int, a
/// number and a bool as they reach dspy_bridge.py, and a short rendering of a bad value.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// An integer in Python's sense (a JSON bool is Python's bool, never an int here).
inline bool is_int(const json& value) { return value.is_number_integer(); }

/// An int or a float (not a bool).
inline bool is_number(const json& value) { return value.is_number(); }

/// The value as a number (for range checks of is_number values).
inline double as_double(const json& value) { return value.get<double>(); }

/// "42", "\"gpt\"", "a map": short enough for one line of a config error.
inline std::string shown(const json& value) {
  if (value.is_object()) return "a map";
  if (value.is_array()) return "a list";
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

/// "a, b, c": a list of names for a message.
inline std::string listed(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace mlbridge::dspy_plugin
