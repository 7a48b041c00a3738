#include "shape_args.hpp"

#include <stdexcept>
#include <string>

#include "model_settings.hpp"

namespace mlbridge::langchain_plugin {
namespace {

constexpr std::string_view kNamespace = "langchain:";

void refuse_secrets(const json& settings, std::string_view command, const std::string& where) {
  if (!settings.is_object()) return;
  for (const char* secret : kSecretKeys) {
    if (settings.contains(secret)) {
      throw std::invalid_argument(
          std::string(command) + ": '" + where + secret +
          "' refused: API keys never travel in requests; pass 'api_key_env', the name of the "
          "environment variable that holds the key (the bridge's env.pass must let it "
          "through)");
    }
  }
}

// agent_id / conversation_id → chain_id, for the commands that address any chain by chain_id.
json rename_alias(std::string_view command, json args) {
  for (const char* alias : {"agent_id", "conversation_id"}) {
    const auto found = args.find(alias);
    if (found == args.end()) continue;
    if (const auto chain_id = args.find("chain_id"); chain_id != args.end()) {
      if (*chain_id != *found) {
        throw std::invalid_argument(std::string(command) + ": give either 'chain_id' or '" + alias +
                                    "', not both with different values");
      }
    } else {
      args["chain_id"] = *found;
    }
    args.erase(alias);
  }
  return args;
}

}  // namespace

json shape_langchain_args(std::string_view command, json args) {
  if (command.substr(0, kNamespace.size()) == kNamespace) command.remove_prefix(kNamespace.size());
  if (!args.is_object()) return args;  // the bridge answers with its own message
  if (command == "configure_model") {
    refuse_secrets(args, command, "");
  } else if (command == "create_chain" || command == "create_agent" ||
             command == "create_conversation") {
    if (const auto model = args.find("model"); model != args.end()) {
      refuse_secrets(*model, command, "model.");
    }
  } else if (command == "create_retriever") {
    if (const auto embeddings = args.find("embeddings"); embeddings != args.end()) {
      refuse_secrets(*embeddings, command, "embeddings.");
    }
  } else if (command == "invoke" || command == "stream" || command == "batch" ||
             command == "get_chain_info") {
    return rename_alias(command, std::move(args));
  }
  return args;
}

}  // namespace mlbridge::langchain_plugin
