#pragma once

/// @file
/// The argument checks and rewrites the host makes before a LangChain call leaves it:
///
/// - An API key in model or embeddings settings (configure_model's arguments, the `model` of
///   create_chain/create_agent/create_conversation, the `embeddings` of create_retriever) is
///   refused here, so that it never reaches a worker's pipe, stderr or history. The bridge
///   refuses it too; this keeps the key inside the caller's process.
/// - The runs of a chain (invoke, stream, batch) and get_chain_info take `chain_id`; an agent
///   or a conversation is one, so `agent_id` or `conversation_id` is accepted in its place and
///   renamed. That way the same arguments that created an agent or a conversation resource
///   address it in the resource verbs (execute agent → invoke, get agent → get_chain_info).
///
/// Commands may come namespaced ("langchain:invoke"); every other command and argument passes
/// untouched.

#include <nlohmann/json.hpp>
#include <string_view>

namespace mlbridge::langchain_plugin {

using json = nlohmann::json;

/// `args`, possibly rewritten; throws std::invalid_argument (the SDK reports it as
/// invalid_argument) with a message that names the argument and never repeats a secret.
json shape_langchain_args(std::string_view command, json args);

}  // namespace mlbridge::langchain_plugin
