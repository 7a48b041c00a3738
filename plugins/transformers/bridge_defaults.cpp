#include "bridge_defaults.hpp"

namespace mlbridge::transformers_plugin {

const std::vector<std::string>& bridge_commands() {
  static const std::vector<std::string> commands = {
      "load_model", "run_pipeline", "generate_stream", "tokenize",     "detokenize",
      "embed",      "list_models",  "get_model_info",  "unload_model",
  };
  return commands;
}

const std::vector<std::string>& idempotent_commands() {
  static const std::vector<std::string> commands = {
      "load_model", "run_pipeline", "tokenize",       "detokenize",
      "embed",      "list_models",  "get_model_info",
  };
  return commands;
}

json bridge_defaults() {
  // Models live in the worker and are shared by every session on it: a second worker would hold
  // a second copy of every model, so one worker and no overflow. Recycling by call count would
  // throw the loaded models away, hence no max_requests; the memory limit (an RSS threshold
  // checked after each call) replaces a worker that has grown past it.
  return {
      {"script", kScript},
      {"codec", "msgpack"},
      {"required_packages", {"transformers", "torch", "tokenizers"}},
      // Pooled vectors and batches of generated text can be large.
      {"max_frame_bytes", 134217728},
      {"pool",
       {{"size", 1},
        {"max_overflow", 0},
        {"queue_limit", 100},
        {"checkout_timeout_ms", 120000},
        {"max_requests", 0}}},
      // Importing torch and transformers takes 5-15 s on a cold machine, preloading a real model
      // longer; generation on a CPU takes seconds to minutes.
      {"timeouts",
       {{"request_ms", 300000},
        {"startup_ms", 300000},
        {"shutdown_ms", 30000},
        {"cancel_grace_ms", 5000}}},
      // A ping waits behind a running call (one at a time), so give it time.
      {"health", {{"interval_ms", 60000}, {"timeout_ms", 30000}, {"max_failures", 3}}},
      {"restart", {{"max_restarts", 3}, {"window_s", 600}}},
      {"limits", {{"max_memory_mb", 8192}}},
      // The bridge forces these itself; set here too so that nothing the worker starts downloads.
      {"env",
       {{"set",
         {{"HF_HUB_OFFLINE", "1"},
          {"TRANSFORMERS_OFFLINE", "1"},
          {"HF_HUB_DISABLE_TELEMETRY", "1"},
          {"TOKENIZERS_PARALLELISM", "false"}}}}},
      {"idempotent", idempotent_commands()},
  };
}

}  // namespace mlbridge::transformers_plugin
