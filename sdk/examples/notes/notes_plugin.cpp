// The notes plugin: the adapter half of the SDK example (the Python half is notes_bridge.py).
//
// It shows every hook of mlbridge::sdk::Adapter on a bridge small enough to read in one sitting:
//   info()             who the plugin is (the name matches the file: libmlbridge_notes.so)
//   defaults()         no packages to check, one worker, options.max_notes = 100; the script is
//                      the notes_bridge.py that mlbridge_add_plugin(... BRIDGE_SCRIPT) copies
//                      beside this library (the SDK's default when defaults() names none)
//   validate()         options.max_notes must be a positive integer; no unknown options
//   error_rules()      the bridge's NoteNotFound → not_found, NotebookFull → resource_exhausted
//   resource_command() the resource kind "note" (create/get/list/delete)
//   shape_args()       fills defaults and refuses bad arguments before a worker sees them
//
// Every hook is const and reads only constant data, so the host may call them from any thread.

#include <mlbridge/sdk/plugin.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using mlbridge::sdk::json;

constexpr long long kDefaultMaxNotes = 100;
constexpr long long kDefaultSearchLimit = 10;

// args[key] as a non-empty string; std::invalid_argument (→ invalid_argument) otherwise.
void require_text(const json& args, const char* key) {
  const auto found = args.find(key);
  if (found == args.end() || !found->is_string() || found->get<std::string>().empty()) {
    throw std::invalid_argument(std::string("'") + key + "' must be a non-empty string");
  }
}

class NotesAdapter final : public mlbridge::sdk::Adapter {
 public:
  mlbridge::sdk::PluginInfo info() const override {
    return {"notes", "1.0.0", "notes", "Session-scoped notes: the mlbridge plugin SDK example"};
  }

  json defaults() const override {
    // No "script": deployed as two files side by side, libmlbridge_notes.so and notes_bridge.py
    // (mlbridge_add_plugin's BRIDGE_SCRIPT copies it there), the SDK makes that copy the
    // default (mlbridge::sdk::bridge_script()). A YAML `script:` overrides it.
    return {
        {"required_packages", json::array()},  // the bridge needs nothing beyond mlbridge
        {"pool", {{"size", 1}}},
        {"options", {{"max_notes", kDefaultMaxNotes}}},
    };
  }

  std::string validate(const json& bridge_config) const override {
    const auto options = bridge_config.find("options");
    if (options == bridge_config.end()) return {};
    if (!options->is_object()) return "options must be a map";
    for (const auto& [key, value] : options->items()) {
      if (key != "max_notes") return "options." + key + " is not a notes option (known: max_notes)";
      if (!value.is_number_integer() || value.get<long long>() < 1) {
        return "options.max_notes must be a positive integer, not " + value.dump();
      }
    }
    mlbridge::sdk::log(mlbridge::sdk::LogLevel::kDebug,
                       "notes: up to " +
                           options->value("max_notes", json(kDefaultMaxNotes)).dump() +
                           " notes per session");
    return {};
  }

  json error_rules() const override {
    return json::array({
        mlbridge::sdk::error_rule("NoteNotFound", "not_found"),
        mlbridge::sdk::error_rule("NotebookFull", "resource_exhausted", "", false),
    });
  }

  std::optional<std::string> resource_command(std::string_view verb,
                                              std::string_view kind) const override {
    // "list" is list_notes, not the convention's list_note, hence an explicit map.
    static const mlbridge::sdk::ResourceMap kMap{
        {"note", "create", "create_note"},
        {"note", "get", "get_note"},
        {"note", "list", "list_notes"},
        {"note", "delete", "delete_note"},
    };
    return kMap.find(verb, kind);
  }

  json shape_args(std::string_view command, json args) const override {
    if (command == "create_note") {
      if (!args.is_object()) throw std::invalid_argument("arguments must be a JSON object");
      require_text(args, "title");
      if (!args.contains("body")) args["body"] = "";
      if (!args.contains("tags")) args["tags"] = json::array();
    } else if (command == "get_note" || command == "delete_note") {
      if (!args.is_object()) throw std::invalid_argument("arguments must be a JSON object");
      require_text(args, "id");
    } else if (command == "search") {
      if (!args.is_object()) throw std::invalid_argument("arguments must be a JSON object");
      require_text(args, "query");
      // value() throws nlohmann's type_error for a non-number limit: also an invalid_argument.
      const long long limit = args.value("limit", kDefaultSearchLimit);
      if (limit < 1) throw std::invalid_argument("'limit' must be at least 1");
      args["limit"] = limit;
    }
    return args;  // unchanged arguments cost nothing: the host keeps its own copy
  }
};

}  // namespace

MLBRIDGE_PLUGIN(NotesAdapter)
