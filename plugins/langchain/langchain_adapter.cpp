// The LangChain adapter plugin: the C++ half of the LangChain bridge
// (python_bridges/langchain_bridge.py). Each hook hands off to the file that does its one job.

#include <mlbridge/sdk/plugin.hpp>

#include "bridge_defaults.hpp"
#include "error_rules.hpp"
#include "options_validation.hpp"
#include "session_rules.hpp"
#include "shape_args.hpp"

namespace mlbridge::langchain_plugin {

class LangChainAdapter : public sdk::Adapter {
 public:
  LangChainAdapter()
      // The host's resource verbs on the bridge's four kinds of session resources.
      // langchain_bridge.py keeps chains, conversations and agents in one store (list_chains,
      // delete_chain and the runs invoke/stream/batch take any of them); retrievers have
      // commands of their own and no "get" (list_retrievers describes each one).
      : resources_{{"chain", "create", "create_chain"},
                   {"chain", "get", "get_chain_info"},
                   {"chain", "list", "list_chains"},
                   {"chain", "execute", "invoke"},
                   {"chain", "delete", "delete_chain"},
                   {"conversation", "create", "create_conversation"},
                   {"conversation", "get", "get_history"},
                   {"conversation", "list", "list_chains"},
                   {"conversation", "execute", "chat"},
                   {"conversation", "delete", "delete_chain"},
                   {"retriever", "create", "create_retriever"},
                   {"retriever", "list", "list_retrievers"},
                   {"retriever", "execute", "retrieve"},
                   {"retriever", "delete", "delete_retriever"},
                   {"agent", "create", "create_agent"},
                   {"agent", "get", "get_chain_info"},
                   {"agent", "list", "list_chains"},
                   {"agent", "execute", "invoke"},
                   {"agent", "delete", "delete_chain"}},
        rules_(langchain_error_rules()) {}

  sdk::PluginInfo info() const override {
    return {"langchain", "0.1.0", "langchain",
            "LangChain chains, conversations, retrievers and agents as session-scoped resources"};
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

  std::vector<std::string> resource_kinds() const override {
    return {"chain", "conversation", "retriever", "agent"};
  }

  std::optional<std::string> resource_command(std::string_view verb,
                                              std::string_view kind) const override {
    return resources_.find(verb, kind);
  }

  json shape_args(std::string_view command, json args) const override {
    return shape_langchain_args(command, std::move(args));
  }

  json session_rules() const override { return langchain_plugin::session_rules(); }

 private:
  const sdk::ResourceMap resources_;
  const json rules_;
};

}  // namespace mlbridge::langchain_plugin

MLBRIDGE_PLUGIN(mlbridge::langchain_plugin::LangChainAdapter)
