#include "c_adapter.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <regex>
#include <span>
#include <utility>

#include "mlbridge/protocol/codec.hpp"
#include "plugin_rules.hpp"

namespace mlbridge::plugin {
namespace {

using detail::configuration_error;
using detail::is_plain_name;

// The header and identity must be there; hooks past struct_size read as NULL.
constexpr std::size_t kMinTableSize = offsetof(mlbridge_plugin_v1, set_logger);

// A string a plugin returned through an out parameter; handed back to the plugin's free_string.
class PluginString {
 public:
  explicit PluginString(void (*free_fn)(char*)) : free_(free_fn) {}
  ~PluginString() {
    if (ptr_ != nullptr && free_ != nullptr) free_(ptr_);
  }
  PluginString(const PluginString&) = delete;
  PluginString& operator=(const PluginString&) = delete;

  char** out() { return &ptr_; }
  bool null() const { return ptr_ == nullptr; }
  std::string str() const { return ptr_ != nullptr ? std::string(ptr_) : std::string(); }

 private:
  char* ptr_ = nullptr;
  void (*free_)(char*);
};

std::string or_empty(const char* text) { return text != nullptr ? std::string(text) : ""; }

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string hook_failure(const std::string& plugin, std::string_view hook,
                         const PluginString& error) {
  const std::string message = error.str();
  return "plugin '" + plugin + "' failed in " + std::string(hook) + ": " +
         (message.empty() ? "(it gave no message)" : message);
}

// JSON text from a plugin, with {"__bytes__": base64} objects turned back into bytes (the codec
// does that for whole messages only, hence the wrapping object).
Result<json> parse_plugin_json(const std::string& text) {
  const std::string wrapped = "{\"v\":" + text + "}";
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(wrapped.data());
  auto decoded = protocol::decode_payload(std::span(bytes, wrapped.size()), protocol::Codec::kJson);
  if (!decoded) return std::move(decoded).error();
  return std::move((*decoded)["v"]);
}

}  // namespace

Result<mlbridge_plugin_v1> copy_plugin_table(const mlbridge_plugin_v1* table,
                                             const std::string& path) {
  if (table == nullptr) {
    return configuration_error("plugin '" + path +
                               "' failed to initialise: mlbridge_plugin_entry returned no table "
                               "(the plugin's own message, if any, is on stderr)");
  }
  // Only the fixed header is read until the major is known to be ours.
  const std::uint32_t major = table->abi_major;
  const std::uint32_t minor = table->abi_minor;
  const std::uint32_t size = table->struct_size;
  const std::string theirs = std::to_string(major) + "." + std::to_string(minor);
  const std::string ours =
      std::to_string(MLBRIDGE_PLUGIN_ABI_MAJOR) + "." + std::to_string(MLBRIDGE_PLUGIN_ABI_MINOR);
  // Named for C plugins (and Rust or any other language's), which include plugin_abi.h alone,
  // as well as for C++ ones.
  const std::string sdk_headers =
      "mlbridge/sdk/plugin_abi.h, the C ABI header; C++ plugins include it through "
      "mlbridge/sdk/plugin.hpp";
  if (major > MLBRIDGE_PLUGIN_ABI_MAJOR) {
    return configuration_error("plugin '" + path + "' was built against mlbridge plugin ABI " +
                               theirs + ", newer than this host's ABI " + ours +
                               ": rebuild the plugin against this host's SDK (" + sdk_headers +
                               "), or upgrade the host");
  }
  if (major < MLBRIDGE_PLUGIN_ABI_MAJOR) {
    return configuration_error(
        "plugin '" + path + "' was built against mlbridge plugin ABI " + theirs +
        ", which this host (ABI " + ours +
        ") no longer supports: rebuild the plugin against this host's SDK (" + sdk_headers + ")");
  }
  if (size < kMinTableSize) {
    return configuration_error("plugin '" + path + "' has a table of " + std::to_string(size) +
                               " bytes, too small for ABI " + theirs + " (at least " +
                               std::to_string(kMinTableSize) +
                               "): the plugin is corrupt or its struct_size is not "
                               "sizeof(mlbridge_plugin_v1) of mlbridge/sdk/plugin_abi.h");
  }
  mlbridge_plugin_v1 copy;
  std::memset(&copy, 0, sizeof copy);
  std::memcpy(&copy, table, std::min<std::size_t>(size, sizeof copy));
  return copy;
}

Result<std::vector<ErrorRule>> parse_error_rules(const json& rules, const std::string& plugin) {
  const std::string prefix = "plugin '" + plugin + "': ";
  if (!rules.is_array()) {
    return configuration_error(prefix + "error rules must be a JSON array, not " +
                               rules.type_name());
  }
  std::vector<ErrorRule> parsed;
  for (std::size_t index = 0; index < rules.size(); ++index) {
    const json& entry = rules[index];
    const std::string where = prefix + "error rule " + std::to_string(index + 1);
    if (!entry.is_object()) return configuration_error(where + " must be a JSON object");
    ErrorRule rule;
    bool has_category = false;
    for (const auto& [key, value] : entry.items()) {
      if (key == "type" || key == "match" || key == "category") {
        if (!value.is_string())
          return configuration_error(where + ": " + key + " must be a string");
      }
      if (key == "type") {
        rule.type = value.get<std::string>();
      } else if (key == "match") {
        rule.message_pattern = value.get<std::string>();
      } else if (key == "category") {
        const auto category = parse_error_category(value.get<std::string>());
        if (!category) {
          return configuration_error(where + " has unknown category '" + value.get<std::string>() +
                                     "' (see the error categories of DESIGN.md, e.g. rate_limit)");
        }
        rule.category = *category;
        has_category = true;
      } else if (key == "retryable") {
        if (!value.is_boolean())
          return configuration_error(where + ": retryable must be a boolean");
        rule.retryable = value.get<bool>();
      } else {
        return configuration_error(where + " has unknown key '" + key +
                                   "' (known: type, match, category, retryable)");
      }
    }
    if (!has_category) return configuration_error(where + " has no category");
    if (!rule.message_pattern.empty()) {
      try {
        std::regex check(rule.message_pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return configuration_error(where + " has an invalid match pattern '" +
                                   rule.message_pattern + "': " + e.what());
      }
    }
    parsed.push_back(std::move(rule));
  }
  return parsed;
}

CAdapter::CAdapter(const mlbridge_plugin_v1& table, AdapterInfo info)
    : table_(table), info_(std::move(info)) {}

Result<std::shared_ptr<const CAdapter>> CAdapter::create(const mlbridge_plugin_v1& table,
                                                         std::string path) {
  AdapterInfo info;
  info.name = or_empty(table.name);
  info.version = or_empty(table.version);
  info.framework = or_empty(table.framework);
  info.description = or_empty(table.description);
  info.abi_major = static_cast<int>(table.abi_major);
  info.abi_minor = static_cast<int>(table.abi_minor);
  info.path = std::move(path);
  if (!is_plain_name(info.name)) {
    return configuration_error("plugin '" + info.path + "' reports the name '" + info.name +
                               "': a plugin name must be non-empty and hold only letters, "
                               "digits, '_' and '-'");
  }
  const bool returns_strings = table.get_defaults != nullptr || table.validate != nullptr ||
                               table.get_error_rules != nullptr ||
                               table.resource_command != nullptr || table.shape_args != nullptr ||
                               table.get_session_rules != nullptr;
  if (returns_strings && table.free_string == nullptr) {
    return configuration_error("plugin '" + info.name +
                               "' has hooks but no free_string, so the host cannot release the "
                               "strings it returns: fill in free_string in its table");
  }

  std::shared_ptr<CAdapter> adapter(new CAdapter(table, std::move(info)));
  const std::string& name = adapter->info_.name;
  if (table.get_defaults != nullptr) {
    PluginString out(table.free_string);
    PluginString error(table.free_string);
    if (table.get_defaults(out.out(), error.out()) != MLBRIDGE_STATUS_OK) {
      return configuration_error(hook_failure(name, "defaults", error));
    }
    auto defaults = parse_plugin_json(out.null() ? "{}" : out.str());
    if (!defaults || !defaults->is_object()) {
      return configuration_error("plugin '" + name +
                                 "': its defaults are not a JSON object: " + out.str());
    }
    adapter->defaults_ = std::move(*defaults);
  }
  if (table.get_error_rules != nullptr) {
    PluginString out(table.free_string);
    PluginString error(table.free_string);
    if (table.get_error_rules(out.out(), error.out()) != MLBRIDGE_STATUS_OK) {
      return configuration_error(hook_failure(name, "error_rules", error));
    }
    auto rules_json = parse_plugin_json(out.null() ? "[]" : out.str());
    if (!rules_json) {
      return configuration_error("plugin '" + name +
                                 "': its error rules are not valid JSON: " + out.str());
    }
    auto rules = parse_error_rules(*rules_json, name);
    if (!rules) return std::move(rules).error();
    adapter->rules_ = std::move(*rules);
  }
  if (table.get_session_rules != nullptr) {
    PluginString out(table.free_string);
    PluginString error(table.free_string);
    if (table.get_session_rules(out.out(), error.out()) != MLBRIDGE_STATUS_OK) {
      return configuration_error(hook_failure(name, "session_rules", error));
    }
    auto rules_json = parse_plugin_json(out.null() ? "{}" : out.str());
    if (!rules_json) {
      return configuration_error("plugin '" + name +
                                 "': its session rules are not valid JSON: " + out.str());
    }
    auto rules =
        session::ReplayRules::from_json(*rules_json, "plugin '" + name + "': session rules");
    if (!rules) return std::move(rules).error();
    adapter->session_rules_ = std::move(*rules);
  }
  return std::shared_ptr<const CAdapter>(std::move(adapter));
}

Status CAdapter::validate(const json& bridge_config) const {
  if (table_.validate == nullptr) return Ok{};
  const std::string text = dump(protocol::to_plain_json(bridge_config));
  PluginString error(table_.free_string);
  const int status = table_.validate(text.c_str(), error.out());
  if (status == MLBRIDGE_STATUS_OK) return Ok{};
  if (status == MLBRIDGE_STATUS_INVALID) {
    const std::string message = error.str();
    return configuration_error(
        (message.empty() ? "the bridge's configuration is invalid (the plugin gave no reason)"
                         : message) +
        " (checked by plugin '" + info_.name + "')");
  }
  return configuration_error(hook_failure(info_.name, "validate", error));
}

Result<std::string> CAdapter::resource_command(std::string_view verb, std::string_view kind) const {
  const std::string what = "plugin '" + info_.name + "' maps no command for verb '" +
                           std::string(verb) + "' on resource kind '" + std::string(kind) + "'";
  if (table_.resource_command == nullptr) return fail(ErrorCategory::kNotFound, what);
  const std::string verb_text(verb);
  const std::string kind_text(kind);
  PluginString out(table_.free_string);
  PluginString error(table_.free_string);
  const int status =
      table_.resource_command(verb_text.c_str(), kind_text.c_str(), out.out(), error.out());
  if (status == MLBRIDGE_STATUS_NOT_FOUND) return fail(ErrorCategory::kNotFound, what);
  if (status != MLBRIDGE_STATUS_OK) {
    return fail(ErrorCategory::kInternal, hook_failure(info_.name, "resource_command", error));
  }
  if (out.null() || out.str().empty()) {
    return fail(ErrorCategory::kInternal, "plugin '" + info_.name +
                                              "' returned an empty command for verb '" + verb_text +
                                              "' on kind '" + kind_text + "'");
  }
  return out.str();
}

Result<json> CAdapter::shape_args(std::string_view command, json args) const {
  if (table_.shape_args == nullptr) return args;
  const std::string command_text(command);
  const std::string text = dump(protocol::to_plain_json(args));
  PluginString out(table_.free_string);
  PluginString error(table_.free_string);
  const int status = table_.shape_args(command_text.c_str(), text.c_str(), out.out(), error.out());
  if (status == MLBRIDGE_STATUS_INVALID) {
    const std::string message = error.str();
    return fail(ErrorCategory::kInvalidArgument,
                "plugin '" + info_.name + "' refused the arguments of '" + command_text +
                    "': " + (message.empty() ? "(it gave no reason)" : message));
  }
  if (status != MLBRIDGE_STATUS_OK) {
    return fail(ErrorCategory::kInternal,
                hook_failure(info_.name, "shape_args for '" + command_text + "'", error));
  }
  if (out.null()) return args;  // unchanged
  auto shaped = parse_plugin_json(out.str());
  if (!shaped) {
    return fail(ErrorCategory::kInternal, "plugin '" + info_.name +
                                              "' returned malformed JSON from shape_args for '" +
                                              command_text + "': " + shaped.error().message);
  }
  return std::move(*shaped);
}

}  // namespace mlbridge::plugin
