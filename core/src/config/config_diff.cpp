#include "mlbridge/config/config_diff.hpp"

#include <array>
#include <string_view>

namespace mlbridge::config {
namespace {

void diff_into(const json& before, const json& after, const std::string& prefix,
               std::vector<KeyChange>& out) {
  if (before.is_object() && after.is_object()) {
    json keys = json::object();
    for (const auto& [key, value] : before.items()) keys[key] = true;
    for (const auto& [key, value] : after.items()) keys[key] = true;
    for (const auto& [key, unused] : keys.items()) {
      const json& b = before.contains(key) ? before.at(key) : json();
      const json& a = after.contains(key) ? after.at(key) : json();
      diff_into(b, a, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  if (before != after) out.push_back({prefix, before, after});
}

}  // namespace

std::string KeyChange::describe() const {
  return key + ": " + (before.is_null() ? "(default)" : before.dump()) + " -> " +
         (after.is_null() ? "(default)" : after.dump());
}

std::vector<KeyChange> diff_keys(const json& before, const json& after) {
  std::vector<KeyChange> out;
  diff_into(before.is_null() ? json::object() : before, after.is_null() ? json::object() : after,
            "", out);
  return out;
}

json merge_patch(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      target[key] = merge_patch(target.contains(key) ? target[key] : json(), value);
    }
  }
  return target;
}

bool needs_new_bridge(const KeyChange& change) {
  static constexpr std::array<std::string_view, 10> kFixed{
      "plugin",      "script",          "python",
      "codec",       "max_frame_bytes", "working_dir",
      "env",         "required_env",    "required_packages",
      "sessions.max"};
  for (std::string_view fixed : kFixed) {
    if (change.key == fixed || change.key.rfind(std::string(fixed) + ".", 0) == 0) return true;
  }
  return false;
}

}  // namespace mlbridge::config
