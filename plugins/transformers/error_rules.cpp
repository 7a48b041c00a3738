#include "error_rules.hpp"

#include <initializer_list>
#include <mlbridge/sdk/plugin.hpp>
#include <optional>
#include <string>

namespace mlbridge::transformers_plugin {
namespace {

void add(json& rules, std::initializer_list<const char*> types, const char* category,
         const char* match = "", std::optional<bool> retryable = std::nullopt) {
  for (const char* type : types) {
    rules.push_back(sdk::error_rule(type, category, match, retryable));
  }
}

// Messages of torch's allocators (CPU: "DefaultCPUAllocator: can't allocate memory"; CUDA:
// "CUDA out of memory") and of glibc.
constexpr const char* kOutOfMemory =
    "out of memory|can't allocate memory|not enough memory|[Cc]annot allocate memory";
// transformers' and huggingface_hub's ways of saying the checkpoint is not there.
constexpr const char* kNotThere =
    "is not a local folder|[Cc]an't load|does not appear to have a file named|"
    "couldn't find them in the cached files|is not a valid model identifier";
constexpr const char* kNoCuda =
    "not compiled with CUDA|NVIDIA driver|no CUDA GPUs are available|CUDA driver|"
    "CUDA is not available";

}  // namespace

json transformers_error_rules() {
  json rules = json::array();
  // Memory: another call may fit once a model is unloaded, but repeating this one will not.
  add(rules, {"torch.OutOfMemoryError", "OutOfMemoryError", "MemoryError", "MemoryBudgetExceeded"},
      "resource_exhausted", "", false);
  add(rules, {"RuntimeError"}, "resource_exhausted", kOutOfMemory, false);
  // A model directory or cache entry that does not exist (nothing is ever downloaded).
  add(rules, {"ModelNotFound", "huggingface_hub.LocalEntryNotFoundError"}, "not_found");
  add(rules, {"OSError"}, "not_found", kNotThere);
  // The deployment, not the call: this machine has no usable GPU.
  add(rules, {"CudaUnavailable"}, "invalid_configuration", "", false);
  add(rules, {"RuntimeError", "AssertionError"}, "invalid_configuration", kNoCuda, false);
  // The call: a task transformers does not know, or a model that cannot serve it.
  add(rules, {"KeyError"}, "invalid_argument", "Unknown task");
  add(rules, {"ValueError"}, "invalid_argument",
      "Unrecognized configuration class|Unrecognized model");
  add(rules, {"transformers.PipelineException", "transformers.ConfigError"}, "invalid_argument");
  return rules;
}

}  // namespace mlbridge::transformers_plugin
