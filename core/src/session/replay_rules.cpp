#include "mlbridge/session/replay_rules.hpp"

namespace mlbridge::session {
namespace {

constexpr std::size_t kMaxEntriesBound = 100000;
constexpr std::size_t kMaxBytesBound = std::size_t{1} << 30;

Unexpected invalid(const std::string& where, const std::string& what) {
  return fail(ErrorCategory::kInvalidConfiguration, where + " " + what);
}

Result<std::string> string_key(const json& map, const char* key, const std::string& where,
                               bool required) {
  auto it = map.find(key);
  if (it == map.end()) {
    if (required) return invalid(where, std::string("needs a '") + key + "' string");
    return std::string();
  }
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    return invalid(where + "." + key, "must be a non-empty string");
  }
  return it->get<std::string>();
}

Result<bool> bool_key(const json& map, const char* key, const std::string& where) {
  auto it = map.find(key);
  if (it == map.end()) return false;
  if (!it->is_boolean()) return invalid(where + "." + key, "must be true or false");
  return it->get<bool>();
}

Status check_keys(const json& map, std::initializer_list<const char*> known,
                  const std::string& where) {
  for (const auto& [key, value] : map.items()) {
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return invalid(where + "." + key, "is not a known key (known: " + list + ")");
    }
  }
  return Ok{};
}

template <typename Rule, typename Read>
Status read_list(const json& rules, const char* key, const std::string& where,
                 std::vector<Rule>& out, Read read) {
  auto it = rules.find(key);
  if (it == rules.end()) return Ok{};
  const std::string path = where + "." + key;
  if (!it->is_array()) return invalid(path, "must be a list of {command, object} maps");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string at = path + "[" + std::to_string(i) + "]";
    if (!item.is_object()) return invalid(at, "must be a map with 'command' and 'object'");
    auto rule = read(item, at);
    if (!rule) return std::move(rule).error();
    out.push_back(std::move(*rule));
  }
  return Ok{};
}

Result<std::size_t> size_key(const json& map, const char* key, const std::string& where,
                             std::size_t fallback, std::size_t bound) {
  auto it = map.find(key);
  if (it == map.end()) return fallback;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
      static_cast<std::size_t>(it->get<std::int64_t>()) > bound) {
    return invalid(where + "." + key, "must be an integer from 1 to " + std::to_string(bound));
  }
  return it->get<std::size_t>();
}

}  // namespace

Result<ReplayRules> ReplayRules::from_json(const json& rules, const std::string& where) {
  ReplayRules out;
  if (rules.is_null()) return out;
  if (!rules.is_object()) return invalid(where, "must be a map (setup, undo, snapshot, ...)");
  if (auto known = check_keys(
          rules, {"setup", "undo", "snapshot", "not_replayable", "max_entries", "max_bytes"},
          where);
      !known) {
    return std::move(known).error();
  }
  auto setup =
      read_list(rules, "setup", where, out.setup,
                [](const json& item, const std::string& at) -> Result<SetupRule> {
                  if (auto k = check_keys(item, {"command", "object", "append"}, at); !k)
                    return std::move(k).error();
                  auto command = string_key(item, "command", at, true);
                  if (!command) return std::move(command).error();
                  auto object = string_key(item, "object", at, false);
                  if (!object) return std::move(object).error();
                  auto append = bool_key(item, "append", at);
                  if (!append) return std::move(append).error();
                  return SetupRule{*command, object->empty() ? *command : *object, *append};
                });
  if (!setup) return std::move(setup).error();
  auto undo =
      read_list(rules, "undo", where, out.undo,
                [](const json& item, const std::string& at) -> Result<UndoRule> {
                  if (auto k = check_keys(item, {"command", "object", "appended_only"}, at); !k)
                    return std::move(k).error();
                  auto command = string_key(item, "command", at, true);
                  if (!command) return std::move(command).error();
                  auto object = string_key(item, "object", at, true);
                  if (!object) return std::move(object).error();
                  auto only = bool_key(item, "appended_only", at);
                  if (!only) return std::move(only).error();
                  return UndoRule{*command, *object, *only};
                });
  if (!undo) return std::move(undo).error();
  if (auto snapshot = rules.find("snapshot"); snapshot != rules.end() && !snapshot->is_null()) {
    const std::string at = where + ".snapshot";
    if (!snapshot->is_object()) return invalid(at, "must be a map {save, restore}");
    if (auto k = check_keys(*snapshot, {"save", "restore"}, at); !k) return std::move(k).error();
    auto save = string_key(*snapshot, "save", at, true);
    if (!save) return std::move(save).error();
    auto restore = string_key(*snapshot, "restore", at, true);
    if (!restore) return std::move(restore).error();
    out.snapshot = SnapshotRule{*save, *restore};
  }
  if (auto listed = rules.find("not_replayable"); listed != rules.end() && !listed->is_null()) {
    const std::string at = where + ".not_replayable";
    if (!listed->is_array()) return invalid(at, "must be a list of command names");
    for (std::size_t i = 0; i < listed->size(); ++i) {
      const json& name = (*listed)[i];
      if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
        return invalid(at + "[" + std::to_string(i) + "]", "must be a non-empty command name");
      }
      out.not_replayable.push_back(name.get<std::string>());
    }
  }
  auto entries = size_key(rules, "max_entries", where, out.max_entries, kMaxEntriesBound);
  if (!entries) return std::move(entries).error();
  out.max_entries = *entries;
  auto bytes = size_key(rules, "max_bytes", where, out.max_bytes, kMaxBytesBound);
  if (!bytes) return std::move(bytes).error();
  out.max_bytes = *bytes;
  return out;
}

json ReplayRules::to_json() const {
  json setup_list = json::array();
  for (const auto& r : setup) {
    json rule = {{"command", r.command}, {"object", r.object}};
    if (r.append) rule["append"] = true;
    setup_list.push_back(std::move(rule));
  }
  json undo_list = json::array();
  for (const auto& r : undo) {
    json rule = {{"command", r.command}, {"object", r.object}};
    if (r.appended_only) rule["appended_only"] = true;
    undo_list.push_back(std::move(rule));
  }
  json out = {{"setup", std::move(setup_list)},
              {"undo", std::move(undo_list)},
              {"not_replayable", not_replayable},
              {"max_entries", max_entries},
              {"max_bytes", max_bytes}};
  if (snapshot) out["snapshot"] = {{"save", snapshot->save}, {"restore", snapshot->restore}};
  return out;
}

ReplayRules ReplayRules::merged_with(const json& overrides) const {
  json merged = to_json();
  if (!snapshot) merged.erase("snapshot");
  if (overrides.is_object()) {
    for (const auto& [key, value] : overrides.items()) merged[key] = value;
  }
  // Both sides were validated on their own; a merge of valid parts is valid.
  auto rules = from_json(merged, "sessions.replay");
  return rules ? std::move(*rules) : *this;
}

namespace {
// "create_program" also names "dspy:create_program" (a command's namespaced form).
bool names(const std::string& rule, const std::string& command) {
  if (rule == command) return true;
  const auto colon = command.find(':');
  return colon != std::string::npos && command.compare(colon + 1, std::string::npos, rule) == 0;
}
}  // namespace

const SetupRule* ReplayRules::setup_for(const std::string& command) const {
  for (const auto& rule : setup) {
    if (names(rule.command, command)) return &rule;
  }
  return nullptr;
}

bool ReplayRules::is_not_replayable(const std::string& command) const {
  for (const auto& rule : not_replayable) {
    if (names(rule, command)) return true;
  }
  return false;
}

const UndoRule* ReplayRules::undo_for(const std::string& command) const {
  for (const auto& rule : undo) {
    if (names(rule.command, command)) return &rule;
  }
  return nullptr;
}

std::optional<std::string> fill_object(const std::string& object_template, const json& args,
                                       const json& fallback, std::string* missing) {
  std::string out;
  std::size_t pos = 0;
  while (pos < object_template.size()) {
    const auto open = object_template.find('{', pos);
    if (open == std::string::npos) {
      out += object_template.substr(pos);
      break;
    }
    const auto close = object_template.find('}', open);
    if (close == std::string::npos) {
      out += object_template.substr(pos);
      break;
    }
    out += object_template.substr(pos, open - pos);
    const std::string key = object_template.substr(open + 1, close - open - 1);
    const json* value = nullptr;
    for (const json* source : {&args, &fallback}) {
      if (source->is_object()) {
        if (auto it = source->find(key); it != source->end() && !it->is_null()) {
          value = &*it;
          break;
        }
      }
    }
    if (value == nullptr || !(value->is_string() || value->is_number_integer())) {
      if (missing) *missing = key;
      return std::nullopt;
    }
    out += value->is_string() ? value->get<std::string>() : value->dump();
    pos = close + 1;
  }
  return out;
}

}  // namespace mlbridge::session
