#pragma once

/// @file
/// The built-in adapter of a bridge that names no plugin (only a `script`): no defaults, every
/// config valid, no error rules of its own, no resource mapping, arguments passed unchanged.
///
/// Immutable; any thread may call it.

#include <string>

#include "mlbridge/plugin/adapter.hpp"

namespace mlbridge::plugin {

class GenericAdapter final : public Adapter {
 public:
  /// `framework` is reported in info() (e.g. the bridge's name; "generic" when empty).
  explicit GenericAdapter(std::string framework);

  const AdapterInfo& info() const override { return info_; }
  /// Always `{}`.
  Result<json> defaults() const override;
  /// Always ok.
  Status validate(const json& bridge_config) const override;
  /// Always empty.
  std::vector<ErrorRule> error_rules() const override;
  /// Always not_found: "bridge has no resource mapping (generic adapter) ...".
  Result<std::string> resource_command(std::string_view verb, std::string_view kind) const override;
  /// Always `args`, unchanged.
  Result<json> shape_args(std::string_view command, json args) const override;
  bool shapes_args() const override { return false; }

 private:
  AdapterInfo info_;
};

}  // namespace mlbridge::plugin
