#include "mlbridge/plugin/generic_adapter.hpp"

#include <utility>

namespace mlbridge::plugin {

GenericAdapter::GenericAdapter(std::string framework) {
  info_.name = "generic";
  info_.version = "built-in";
  info_.framework = framework.empty() ? "generic" : std::move(framework);
  info_.description = "Built-in adapter: runs the bridge's script with no plugin behaviour";
}

Result<json> GenericAdapter::defaults() const { return json::object(); }

Status GenericAdapter::validate(const json& /*bridge_config*/) const { return Ok{}; }

std::vector<ErrorRule> GenericAdapter::error_rules() const { return {}; }

Result<std::string> GenericAdapter::resource_command(std::string_view verb,
                                                     std::string_view kind) const {
  return fail(ErrorCategory::kNotFound,
              "bridge has no resource mapping (generic adapter): no command for verb '" +
                  std::string(verb) + "' on resource kind '" + std::string(kind) +
                  "'; call the bridge's command directly, or use a plugin that maps resources");
}

Result<json> GenericAdapter::shape_args(std::string_view /*command*/, json args) const {
  return args;
}

}  // namespace mlbridge::plugin
