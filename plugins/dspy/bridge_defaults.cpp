#include "bridge_defaults.hpp"

namespace mlbridge::dspy_plugin {

const std::vector<std::string>& bridge_commands() {
  static const std::vector<std::string> commands = {
      "configure_lm",     "get_lm",        "create_program",   "execute_program",
      "execute_batch",    "list_programs", "get_program_info", "delete_program",
      "save_program",     "load_program",  "inspect_history",  "optimize_program",
      "evaluate_program", "list_tools",    "list_optimizers",
  };
  return commands;
}

const std::vector<std::string>& idempotent_commands() {
  static const std::vector<std::string> commands = {
      "configure_lm",  "get_lm",           "list_programs",   "get_program_info",
      "save_program",  "list_tools",       "inspect_history", "execute_program",
      "execute_batch", "evaluate_program", "list_optimizers",
  };
  return commands;
}

json bridge_defaults() {
  // A worker spends almost all of a call waiting for the provider, so each one holds up to 256
  // calls at once (the bridge's `concurrency`, reported in its hello; pool.max_concurrency
  // lowers it). Each worker costs ~300 MB (DSPy + LiteLLM): two of them serve hundreds of
  // callers, and overflow workers absorb bursts.
  return {
      {"script", kScript},
      {"codec", "msgpack"},
      {"required_packages", {"dspy"}},
      {"pool",
       {{"size", 2},
        {"max_overflow", 4},
        {"queue_limit", 1000},
        {"checkout_timeout_ms", 10000},
        {"max_requests", 5000},
        {"max_requests_jitter", 500},
        {"idle_timeout_ms", 120000}}},
      // LLM calls (and optimize_program, many of them) take far longer than the host's 30 s
      // default; importing DSPy and LiteLLM takes seconds on a cold, busy machine.
      {"timeouts", {{"request_ms", 120000}, {"startup_ms", 90000}}},
      {"limits", {{"max_memory_mb", 2048}}},
      // LiteLLM would otherwise fetch its model cost map from GitHub at import and report
      // telemetry; neither is wanted in a worker.
      {"env",
       {{"set", {{"LITELLM_LOCAL_MODEL_COST_MAP", "True"}, {"LITELLM_TELEMETRY", "False"}}}}},
      {"idempotent", idempotent_commands()},
      // One retry layer: DSPy retries each failed LM request itself (options.lm.num_retries,
      // 3 by default, waiting as the provider's Retry-After says), so the host does not retry
      // the whole command on top of it. options_validation.cpp refuses a config where both do.
      {"retry", {{"max_attempts", 1}}},
  };
}

}  // namespace mlbridge::dspy_plugin
