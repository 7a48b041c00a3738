// The key reference of docs/configuration.md, written from the bridge key table.

#include <string>

#include "mlbridge/config/bridge_keys.hpp"

namespace mlbridge::config {
namespace {

std::string range(const KeySpec& key) {
  return std::to_string(key.min) + "–" + std::to_string(key.max);
}

std::string type_text(const KeySpec& key) {
  switch (key.type) {
    case KeyType::kInteger:
      return "integer, " + range(key);
    case KeyType::kOptionalInteger:
      return "integer, " + range(key) + ", or null";
    case KeyType::kMilliseconds:
      return "milliseconds, " + range(key);
    case KeyType::kSeconds:
      return "seconds, " + range(key);
    case KeyType::kBoolean:
      return "boolean";
    case KeyType::kString:
      return "string";
    case KeyType::kNonEmptyString:
      return "non-empty string";
    case KeyType::kPluginName:
      return "name: letters, digits, `_`, `-`";
    case KeyType::kCodec:
      return "`json` or `msgpack`";
    case KeyType::kStringList:
      return "list of strings";
    case KeyType::kEnvNames:
      return "list of variable names";
    case KeyType::kModuleNames:
      return "list of module names (`pkg.mod`)";
    case KeyType::kEnvValues:
      return "map: variable name → text";
    case KeyType::kMap:
      return "map";
    case KeyType::kErrorRules:
      return "list of `{type, match, category, retryable}`";
    case KeyType::kReplayRules:
      return "map: `setup`, `undo`, `snapshot`, ... (docs/sessions.md)";
  }
  return "";
}

// The value of a default-constructed BridgeConfig, as YAML would spell it.
std::string shown(std::uint64_t value) { return std::to_string(value); }
std::string shown(std::uint32_t value) { return std::to_string(value); }
std::string shown(const std::optional<std::uint64_t>& value) {
  return value ? std::to_string(*value) : "none";
}
template <typename Rep, typename Period>
std::string shown(const std::chrono::duration<Rep, Period>& value) {
  return std::to_string(value.count());
}
std::string shown(bool value) { return value ? "true" : "false"; }
std::string shown(const std::string& value) { return value.empty() ? "\"\"" : value; }
std::string shown(const std::optional<std::string>& value) { return value.value_or("none"); }
std::string shown(protocol::Codec value) { return std::string(protocol::to_string(value)); }
std::string shown(const std::vector<std::string>& value) { return json(value).dump(); }
std::string shown(const std::map<std::string, std::string>& value) { return json(value).dump(); }
std::string shown(const json& value) { return value.is_null() ? "none" : value.dump(); }
std::string shown(const std::vector<ErrorOverride>& value) {
  return value.empty() ? "[]" : std::to_string(value.size()) + " rules";
}

std::string default_text(const KeySpec& key) {
  if (!key.default_text.empty()) return std::string(key.default_text);
  static const BridgeConfig defaults;
  return "`" + std::visit([](const auto& field) { return shown(field.get(defaults)); }, key.field) +
         "`";
}

}  // namespace

std::string bridge_keys_markdown() {
  std::string out =
      "| key | type | default | live | description |\n"
      "|---|---|---|---|---|\n";
  for (const KeySpec& key : bridge_keys()) {
    out += "| `" + std::string(key.path) + "` | " + type_text(key) + " | " + default_text(key) +
           " | " + (key.live ? "yes" : "no") + " | " + std::string(key.doc) + " |\n";
  }
  return out;
}

}  // namespace mlbridge::config
