#include "bridge_defaults.hpp"

namespace mlbridge::langchain_plugin {

const std::vector<std::string>& bridge_commands() {
  static const std::vector<std::string> commands = {
      "configure_model",
      "get_model",
      "create_chain",
      "create_agent",
      "get_chain_info",
      "list_chains",
      "delete_chain",
      "invoke",
      "stream",
      "batch",
      "create_conversation",
      "chat",
      "get_history",
      "clear_history",
      "create_retriever",
      "retrieve",
      "list_retrievers",
      "delete_retriever",
      "list_tools",
  };
  return commands;
}

const std::vector<std::string>& idempotent_commands() {
  static const std::vector<std::string> commands = {
      "configure_model", "get_model", "get_chain_info",  "list_chains", "get_history",
      "clear_history",   "retrieve",  "list_retrievers", "list_tools",
  };
  return commands;
}

json bridge_defaults() {
  // A worker spends almost all of a call waiting for the provider, so each one holds up to 256
  // calls at once (the bridge's `concurrency`, reported in its hello; pool.max_concurrency
  // lowers it). Each worker costs 100-200 MB (LangChain, LangGraph and the OpenAI client):
  // two of them serve hundreds of callers, and overflow workers absorb bursts.
  return {
      {"script", kScript},
      {"codec", "msgpack"},
      {"required_packages", {"langchain", "langchain_core", "langchain_openai"}},
      {"pool",
       {{"size", 2},
        {"max_overflow", 4},
        {"queue_limit", 1000},
        {"checkout_timeout_ms", 10000},
        {"max_requests", 5000},
        {"max_requests_jitter", 500},
        {"idle_timeout_ms", 120000}}},
      // An agent's several model calls, or a long streamed answer, take far longer than the
      // host's 30 s default; importing LangChain and LangGraph takes seconds on a busy machine.
      {"timeouts", {{"request_ms", 120000}, {"startup_ms", 90000}}},
      // Several times a worker's usual size: room for a session's in-memory vector stores and
      // histories, and a recycle before one runaway worker takes the machine's memory.
      {"limits", {{"max_memory_mb", 1024}}},
      {"idempotent", idempotent_commands()},
      // One retry layer: the OpenAI client retries each failed request itself (max_retries of
      // options.model and options.embeddings, 2 by default), so the host does not retry the
      // whole command on top of it. options_validation.cpp refuses a config where both do.
      {"retry", {{"max_attempts", 1}}},
  };
}

}  // namespace mlbridge::langchain_plugin
