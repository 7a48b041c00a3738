// The DSPy adapter plugin: the C++ half of the DSPy bridge (python_bridges/dspy_bridge.py).
// Each hook hands off to the file that does its one job.

#include <mlbridge/sdk/plugin.hpp>

#include "bridge_defaults.hpp"
#include "error_rules.hpp"
#include "options_validation.hpp"
#include "session_rules.hpp"
#include "shape_args.hpp"

namespace mlbridge::dspy_plugin {

class DspyAdapter : public sdk::Adapter {
 public:
  DspyAdapter()
      // The host's resource verbs on programs; dspy_bridge.py names "get" get_program_info.
      : resources_{{"program", "create", "create_program"},
                   {"program", "get", "get_program_info"},
                   {"program", "list", "list_programs"},
                   {"program", "execute", "execute_program"},
                   {"program", "delete", "delete_program"}},
        rules_(dspy_error_rules()) {}

  sdk::PluginInfo info() const override {
    return {"dspy", "0.1.0", "dspy",
            "DSPy programs (signatures, modules, optimizers) as session-scoped resources"};
  }

  json defaults() const override { return bridge_defaults(); }

  std::string validate(const json& bridge_config) const override {
    std::string message;
    for (const auto& problem : check_bridge_config(bridge_config)) {
      message += (message.empty() ? "" : "; ") + problem;
    }
    return message;
  }

  json error_rules() const override { return rules_; }

  std::vector<std::string> resource_kinds() const override { return {"program"}; }

  std::optional<std::string> resource_command(std::string_view verb,
                                              std::string_view kind) const override {
    return resources_.find(verb, kind);
  }

  json shape_args(std::string_view command, json args) const override {
    return shape_dspy_args(command, std::move(args));
  }

  json session_rules() const override { return dspy_plugin::session_rules(); }

 private:
  const sdk::ResourceMap resources_;
  const json rules_;
};

}  // namespace mlbridge::dspy_plugin

MLBRIDGE_PLUGIN(mlbridge::dspy_plugin::DspyAdapter)
