// The notes plugin: the adapter half of the SDK example (the Python half is notes_bridge.py).
//
// It shows every hook of mlbridge::sdk::Adapter on a bridge small enough to read in one sitting:
//   info()             who the plugin is (the name matches the file: libmlbridge_notes.so)
//   defaults()         the script beside this library, no packages to check, one worker,
//                      options.max_notes = 100
//   validate()         options.max_notes must be a positive integer; no unknown options
//   error_rules()      the bridge's NoteNotFound → not_found, NotebookFull → resource_exhausted
//   resource_command() the resource kind "note" (create/get/list/delete)
//   shape_args()       fills defaults and refuses bad arguments before a worker sees them
//
// Every hook is const and reads only constant data, so the host may call them from any thread.

#include <dlfcn.h>  // dladdr: where this library was loaded from

#include <mlbridge/sdk/plugin.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using mlbridge::sdk::json;

constexpr long long kDefaultMaxNotes = 100;
constexpr long long kDefaultSearchLimit = 10;

// The directory holding this shared library (with a trailing '/'), or "" when unknown.
std::string library_directory() {
  Dl_info where{};
  if (dladdr(reinterpret_cast<const void*>(&library_directory), &where) == 0 ||
      where.dli_fname == nullptr) {
    return {};
  }
  const std::string path = where.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

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
    json defaults = {
        {"required_packages", json::array()},  // the bridge needs nothing beyond mlbridge
        {"pool", {{"size", 1}}},
        {"options", {{"max_notes", kDefaultMaxNotes}}},
    };
    // Deployed as two files side by side: libmlbridge_notes.so and notes_bridge.py (the build
    // copies the script there). A YAML `script:` overrides this.
    if (const std::string dir = library_directory(); !dir.empty()) {
      defaults["script"] = dir + "notes_bridge.py";
    }
    return defaults;
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
