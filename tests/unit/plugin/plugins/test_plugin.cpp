// Test plugins built with the SDK, one per TEST_PLUGIN_* variant (see ../CMakeLists.txt):
//   GOOD       every hook, well behaved
//   THROWING   validate, resource_command and shape_args throw
//   BAD_RULES  error_rules returns a malformed rule (the load fails)
//   MISNAMED   reports a name that is not its file name
//   THROWING_LOAD  defaults throws (the load fails)
//   SCRIPTED   defaults name no script; built with BRIDGE_SCRIPT, so the SDK fills it in

#include <mlbridge/sdk/plugin.hpp>
#include <stdexcept>

namespace {

using mlbridge::sdk::json;

class TestAdapter : public mlbridge::sdk::Adapter {
 public:
  mlbridge::sdk::PluginInfo info() const override {
    return {TEST_PLUGIN_NAME, "1.2.3", "testing", "A plugin for the loader's tests"};
  }

  json defaults() const override {
#ifdef TEST_PLUGIN_THROWING_LOAD
    throw std::runtime_error("defaults exploded");
#endif
#ifdef TEST_PLUGIN_SCRIPTED
    return {{ "pool", { { "size", 1 } } }};
#else
    return {{"script", "bridge.py"}, {"pool", {{"size", 1}}}, {"required_packages", {"pytest"}}};
#endif
  }

  std::string validate(const json& config) const override {
    mlbridge::sdk::log(mlbridge::sdk::LogLevel::kDebug, "validating");
#ifdef TEST_PLUGIN_THROWING
    (void)config;
    throw std::runtime_error("validate exploded");
#else
    const json& options = config.value("options", json::object());
    if (options.contains("level") && !options["level"].is_number_integer()) {
      return "options.level must be an integer";
    }
    return {};
#endif
  }

  json error_rules() const override {
#ifdef TEST_PLUGIN_BAD_RULES
    return json::array({mlbridge::sdk::error_rule("EchoLimitError", "rate_limit"),
                        mlbridge::sdk::error_rule("SlowError", "slow_down")});
#else
    return json::array({mlbridge::sdk::error_rule("EchoLimitError", "rate_limit"),
                        mlbridge::sdk::error_rule("", "authentication", "invalid api key", false)});
#endif
  }

  std::vector<std::string> resource_kinds() const override { return {"program"}; }

  std::optional<std::string> resource_command(std::string_view verb,
                                              std::string_view kind) const override {
#ifdef TEST_PLUGIN_THROWING
    throw std::logic_error("resource exploded");
#endif
    if (auto command = notes_.find(verb, kind)) return command;
    return Adapter::resource_command(verb, kind);  // <verb>_program
  }

  json shape_args(std::string_view command, json args) const override {
#ifdef TEST_PLUGIN_THROWING
    if (command == "boom") throw std::runtime_error("shape exploded");
    if (command == "weird") throw 42;
#endif
    if (command == "log") {  // logs args.text at args.level, so tests can watch the logger
      mlbridge::sdk::log(static_cast<mlbridge::sdk::LogLevel>(args.at("level").get<int>()),
                         args.at("text").get<std::string>());
      return args;
    }
    if (command == "generate") {
      if (args.value("max_tokens", 0) < 0) {
        throw std::invalid_argument("max_tokens must not be negative");
      }
      if (!args.contains("max_tokens")) args["max_tokens"] = 16;
    }
    return args;
  }

 private:
  mlbridge::sdk::ResourceMap notes_{{"note", "create", "put"}, {"note", "get", "get"}};
};

}  // namespace

MLBRIDGE_PLUGIN(TestAdapter)
