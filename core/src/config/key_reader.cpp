#include "key_reader.hpp"

#include <regex>
#include <utility>

#include "mlbridge/session/replay_rules.hpp"

namespace mlbridge::config::detail {
namespace {

// Each overload stores one kind of member; where several key types share a member type, the
// key's type picks the checks.

// A Python identifier of ASCII letters, digits and '_' (not starting with a digit), joined by
// '.': what `import NAME` takes. (Python accepts non-ASCII identifiers too; a deployment's module
// names are ASCII in practice, and a narrower check refuses nothing a team would write.)
bool is_module_name(std::string_view name) {
  if (name.empty()) return false;
  bool at_start = true;
  for (const char c : name) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (c == '.') {
      if (at_start) return false;
      at_start = true;
    } else if (letter || (digit && !at_start)) {
      at_start = false;
    } else {
      return false;
    }
  }
  return !at_start;
}

Status read_into(const KeySpec& key, const ValueReader& value, std::uint64_t& out) {
  auto number = value.integer(key.min, key.max);
  if (!number) return std::move(number).error();
  out = *number;
  return Ok{};
}

Status read_into(const KeySpec& key, const ValueReader& value, std::uint32_t& out) {
  auto number = value.integer(key.min, key.max);
  if (!number) return std::move(number).error();
  out = static_cast<std::uint32_t>(*number);
  return Ok{};
}

Status read_into(const KeySpec& key, const ValueReader& value, std::optional<std::uint64_t>& out) {
  if (value.value().is_null()) {
    out.reset();
    return Ok{};
  }
  auto number = value.integer(key.min, key.max);
  if (!number) return std::move(number).error();
  out = *number;
  return Ok{};
}

template <typename Rep, typename Period>
Status read_into(const KeySpec& key, const ValueReader& value,
                 std::chrono::duration<Rep, Period>& out) {
  auto number = value.integer(key.min, key.max);
  if (!number) return std::move(number).error();
  out = std::chrono::duration<Rep, Period>(static_cast<Rep>(*number));
  return Ok{};
}

Status read_into(const KeySpec&, const ValueReader& value, bool& out) {
  auto flag = value.boolean();
  if (!flag) return std::move(flag).error();
  out = *flag;
  return Ok{};
}

Status read_into(const KeySpec& key, const ValueReader& value, std::string& out) {
  auto text = key.type == KeyType::kString ? value.string() : value.non_empty_string();
  if (!text) return std::move(text).error();
  out = std::move(*text);
  return Ok{};
}

Status read_into(const KeySpec& key, const ValueReader& value, std::optional<std::string>& out) {
  auto text = value.non_empty_string();
  if (!text) return std::move(text).error();
  if (key.type == KeyType::kPluginName && !is_simple_name(*text)) {
    return value.error(
        "must be a plugin name of letters, digits, '_' and '-' (the library "
        "libmlbridge_<name>.so), got '" +
        *text + "'");
  }
  out = std::move(*text);
  return Ok{};
}

Status read_into(const KeySpec&, const ValueReader& value, protocol::Codec& out) {
  auto name = value.choice({"json", "msgpack"});
  if (!name) return std::move(name).error();
  out = *protocol::parse_codec(*name);
  return Ok{};
}

Status read_into(const KeySpec& key, const ValueReader& value, std::vector<std::string>& out) {
  auto items = value.string_list(/*env_names=*/key.type == KeyType::kEnvNames);
  if (!items) return std::move(items).error();
  if (key.type == KeyType::kModuleNames) {
    for (std::size_t i = 0; i < items->size(); ++i) {
      if (!is_module_name((*items)[i])) {
        return value.element(i).error(
            "must be a dotted Python module name like 'myteam.programs' (identifiers joined by "
            "'.', not relative), got '" +
            (*items)[i] + "'");
      }
    }
  }
  out = std::move(*items);
  return Ok{};
}

Status read_into(const KeySpec&, const ValueReader& value,
                 std::map<std::string, std::string>& out) {
  out.clear();
  return value.for_each_member([&](const std::string& name, const ValueReader& setting) -> Status {
    if (!is_env_name(name)) {
      return setting.key_error(
          "is not an environment variable name (letters, digits and '_', not starting with a "
          "digit)");
    }
    // Unquoted YAML numbers and booleans (HF_HUB_OFFLINE: 1) are what users write; the
    // environment only holds text, so they are taken as written.
    const json& v = setting.value();
    if (v.is_string()) {
      out[name] = v.get<std::string>();
    } else if (v.is_number() || v.is_boolean()) {
      out[name] = v.dump();
    } else {
      return setting.error("must be a string, got " + describe_value(v));
    }
    return Ok{};
  });
}

Status read_into(const KeySpec& key, const ValueReader& value, json& out) {
  if (key.type == KeyType::kReplayRules) {
    auto rules = session::ReplayRules::from_json(value.value(), value.path());
    if (!rules) return value.error("is invalid: " + rules.error().message);
    out = value.value();
    return Ok{};
  }
  if (value.value().is_null()) {
    out = json::object();
  } else if (value.value().is_object()) {
    out = value.value();
  } else {
    return value.error("must be a map, got " + describe_value(value.value()));
  }
  return Ok{};
}

std::vector<std::string_view> category_names() {
  std::vector<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(ErrorCategory::kInternal); ++i) {
    names.push_back(to_string(static_cast<ErrorCategory>(i)));
  }
  return names;
}

Status read_error_override(const ValueReader& entry, ErrorOverride& rule) {
  if (!entry.value().is_object()) {
    return entry.error("must be a map like {type: RateLimitError, category: rate_limit}, got " +
                       describe_value(entry.value()));
  }
  bool has_category = false;
  auto status = entry.for_each_member(
      {"type", "match", "category", "retryable"},
      [&](const std::string& key, const ValueReader& value) -> Status {
        if (key == "type") {
          auto type = value.non_empty_string();
          if (!type) return std::move(type).error();
          rule.type = std::move(*type);
        } else if (key == "match") {
          auto pattern = value.non_empty_string();
          if (!pattern) return std::move(pattern).error();
          try {
            std::regex compiled(*pattern, std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            return value.error("is not a valid regular expression (ECMAScript): " +
                               std::string(e.what()));
          }
          rule.match = std::move(*pattern);
        } else if (key == "category") {
          auto name = value.choice(category_names());
          if (!name) return std::move(name).error();
          rule.category = *parse_error_category(*name);
          has_category = true;
        } else {
          auto flag = value.boolean();
          if (!flag) return std::move(flag).error();
          rule.retryable = *flag;
        }
        return Ok{};
      });
  if (!status) return status;
  if (!has_category) {
    return entry.error("needs a category (one of " + join(category_names()) + ")");
  }
  if (rule.type.empty() && rule.match.empty()) {
    return entry.error(
        "needs a type, a match, or both (a rule with neither would catch every error)");
  }
  return Ok{};
}

Status read_into(const KeySpec&, const ValueReader& value, std::vector<ErrorOverride>& rules) {
  rules.clear();
  if (value.value().is_null()) return Ok{};
  if (!value.value().is_array()) {
    return value.error(
        "must be a list of rules like [{type: RateLimitError, category: rate_limit}], got " +
        describe_value(value.value()));
  }
  for (std::size_t i = 0; i < value.value().size(); ++i) {
    ErrorOverride rule;
    if (auto status = read_error_override(value.element(i), rule); !status) return status;
    rules.push_back(std::move(rule));
  }
  return Ok{};
}

}  // namespace

Status read_key(const KeySpec& key, const ValueReader& value, BridgeConfig& config) {
  return std::visit([&](const auto& field) { return read_into(key, value, field.at(config)); },
                    key.field);
}

}  // namespace mlbridge::config::detail
