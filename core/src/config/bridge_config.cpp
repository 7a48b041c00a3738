#include "mlbridge/config/bridge_config.hpp"

#include <utility>

#include "key_reader.hpp"
#include "mlbridge/config/bridge_keys.hpp"
#include "value_reader.hpp"

namespace mlbridge::config {
namespace {

using detail::ValueReader;

// A top-level key: a key of its own, or a section whose members are keys.
Status read_top_level_key(const std::string& key, const ValueReader& value, BridgeConfig& config) {
  if (const KeySpec* spec = find_bridge_key(key)) return detail::read_key(*spec, value, config);
  return value.for_each_member(bridge_section_keys(key),
                               [&](const std::string& name, const ValueReader& member) {
                                 std::string path = key;
                                 path.append(".").append(name);
                                 return detail::read_key(*find_bridge_key(path), member, config);
                               });
}

std::string path_of_pointer(const std::string& pointer) {
  std::string path;
  std::size_t start = 1;
  while (start <= pointer.size() && pointer.size() > 1) {
    std::size_t end = pointer.find('/', start);
    if (end == std::string::npos) end = pointer.size();
    if (!path.empty()) path += '.';
    // JSON pointer escapes: "~1" is '/', "~0" (any other "~x") is '~'. Copied character by
    // character: string::replace here trips GCC 12's -Wrestrict false positive once inlined.
    for (std::size_t at = start; at < end; ++at) {
      if (pointer[at] == '~' && at + 1 < end) {
        path += pointer[at + 1] == '1' ? '/' : '~';
        ++at;
      } else {
        path += pointer[at];
      }
    }
    start = end + 1;
  }
  return path;
}

}  // namespace

Result<BridgeConfig> parse_bridge_config(const std::string& name, const json& bridge,
                                         const SourceMap* map, const std::string& pointer_prefix) {
  const ValueReader root(bridge, map, pointer_prefix, path_of_pointer(pointer_prefix),
                         pointer_prefix.empty() ? "bridge '" + name + "'" : "");
  if (!detail::is_simple_name(name)) {
    return root.key_error("is not a valid bridge name: use letters, digits, '_' and '-'");
  }
  BridgeConfig config;
  config.name = name;
  config.raw = bridge.is_null() ? json::object() : bridge;
  auto status = root.for_each_member(bridge_top_level_keys(),
                                     [&](const std::string& key, const ValueReader& value) {
                                       return read_top_level_key(key, value, config);
                                     });
  if (!status) return std::move(status).error();
  if (config.script.empty() && !config.plugin) {
    return root.key_error(
        "needs a script (the Python file that runs the bridge, e.g. script: "
        "python_bridges/examples/echo_bridge.py) or a plugin that provides one");
  }
  return config;
}

json merge_defaults(const json& defaults, const json& overrides) {
  if (overrides.is_null()) return defaults;
  if (!defaults.is_object() || !overrides.is_object()) return overrides;
  json merged = defaults;
  for (const auto& [key, value] : overrides.items()) {
    merged[key] = merged.contains(key) ? merge_defaults(merged[key], value) : value;
  }
  return merged;
}

}  // namespace mlbridge::config
