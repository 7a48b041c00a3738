#include "mlbridge/config/config_diff.hpp"

#include <algorithm>
#include <string_view>

#include "mlbridge/config/bridge_keys.hpp"
#include "mlbridge/telemetry/redactor.hpp"

namespace mlbridge::config {
namespace {

using telemetry::Redactor;

// The last segment of a dotted key path ("env.set.OPENAI_API_KEY" -> "OPENAI_API_KEY").
std::string_view last_segment(std::string_view key) {
  const auto dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

// A value as a change description may show it: anything stored under a secret-looking name
// (env.set.OPENAI_API_KEY, options.lm.api_key), at any depth, becomes [REDACTED]. Descriptions go
// to the log and back to the caller of a PATCH or a reload, and `raw` holds ${ENV}-expanded text.
json shown(const json& value, std::string_view name) {
  if (value.is_null()) return value;
  if (!name.empty() && Redactor::is_secret_name(name)) return std::string(Redactor::kRedacted);
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, member] : value.items()) out[key] = shown(member, key);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& element : value) out.push_back(shown(element, {}));
    return out;
  }
  return value;
}

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
  const std::string_view name = last_segment(key);
  const auto side = [name](const json& value) {
    return value.is_null() ? std::string("(default)") : shown(value, name).dump();
  };
  return key + ": " + side(before) + " -> " + side(after);
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
  // The key itself, or the key it lies inside (env.set.OPENAI_API_KEY is inside env.set).
  for (std::string_view path = change.key;;) {
    if (const KeySpec* key = find_bridge_key(path)) return !key->live;
    const auto dot = path.rfind('.');
    if (dot == std::string_view::npos) break;
    path = path.substr(0, dot);
  }
  // A whole section (replaced by a non-map, or removed): fixed when none of its keys is live.
  const auto members = bridge_section_keys(change.key);
  if (members.empty()) return false;
  return std::none_of(members.begin(), members.end(), [&](std::string_view name) {
    std::string path = change.key;
    path.append(".").append(name);
    return find_bridge_key(path)->live;
  });
}

}  // namespace mlbridge::config
