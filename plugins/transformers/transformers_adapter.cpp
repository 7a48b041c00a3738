// The Transformers adapter plugin: the C++ half of the Transformers bridge
// (python_bridges/transformers_bridge.py). Each hook hands off to the file that does its one job.

#include <mlbridge/sdk/plugin.hpp>

#include "bridge_defaults.hpp"
#include "error_rules.hpp"
#include "options_validation.hpp"
#include "session_rules.hpp"

namespace mlbridge::transformers_plugin {

class TransformersAdapter : public sdk::Adapter {
 public:
  TransformersAdapter()
      // The host's resource verbs on models: loading creates (or shares) one, running it is
      // run_pipeline, deleting drops the session's reference.
      : resources_{{"model", "create", "load_model"},
                   {"model", "get", "get_model_info"},
                   {"model", "list", "list_models"},
                   {"model", "execute", "run_pipeline"},
                   {"model", "delete", "unload_model"}},
        rules_(transformers_error_rules()) {}

  sdk::PluginInfo info() const override {
    return {"transformers", "0.1.0", "transformers",
            "Hugging Face Transformers pipelines on local models (offline), shared by sessions"};
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

  std::vector<std::string> resource_kinds() const override { return {"model"}; }

  std::optional<std::string> resource_command(std::string_view verb,
                                              std::string_view kind) const override {
    return resources_.find(verb, kind);
  }

  json session_rules() const override { return transformers_plugin::session_rules(); }

 private:
  const sdk::ResourceMap resources_;
  const json rules_;
};

}  // namespace mlbridge::transformers_plugin

MLBRIDGE_PLUGIN(mlbridge::transformers_plugin::TransformersAdapter)
