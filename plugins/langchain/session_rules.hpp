#pragma once

/// @file
/// How a LangChain session is rebuilt on another worker: the commands that build its model,
/// chains, agents, conversations and retrievers (replayed in order) and those that remove them.
/// Constant data; any thread.

#include <mlbridge/sdk/plugin.hpp>

namespace mlbridge::langchain_plugin {

/// The rules of Adapter::session_rules(). Conversations live among the chains ("chain:<id>"),
/// so delete_chain removes one; a chat turn journals the conversation's history as data
/// (restore_history, "chain:<id>/history"), never the model call, and clear_history removes it.
sdk::json session_rules();

}  // namespace mlbridge::langchain_plugin
