#pragma once

/// @file
/// Small predicates and wording shared by the config checks: Python's notion of an int, a
/// number and a bool as they reach langchain_bridge.py, and a short rendering of a bad value.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::langchain_plugin {

using json = nlohmann::json;

/// An integer in Python's sense (a JSON bool is Python's bool, never an int here).
inline bool is_int(const json& value) { return value.is_number_integer(); }

/// An int or a float (not a bool).
inline bool is_number(const json& value) { return value.is_number(); }

/// The value as a number (for range checks of is_number values).
inline double as_double(const json& value) { return value.get<double>(); }

/// A non-empty string.
inline bool is_text(const json& value) {
  return value.is_string() && !value.get<std::string>().empty();
}

/// Python's `_ENV_NAME`: [A-Za-z_][A-Za-z0-9_]*.
inline bool is_env_name(const json& value) {
  if (!value.is_string()) return false;
  const std::string name = value.get<std::string>();
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// "42", "\"gpt\"", "a map": short enough for one line of a config error.
inline std::string shown(const json& value) {
  if (value.is_object()) return "a map";
  if (value.is_array()) return "a list";
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

/// "a, b, c".
inline std::string listed(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

/// Whether `names` holds `name`.
inline bool holds(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace mlbridge::langchain_plugin
