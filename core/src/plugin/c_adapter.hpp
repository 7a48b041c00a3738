#pragma once

// The host side of the C ABI: checks a plugin's table and wraps it as a plugin::Adapter. Private
// to core; PluginLoader finds, loads and keeps the libraries, this file only speaks the ABI, so
// tests can drive it with tables built in-process (no shared library needed).

#include <memory>
#include <string>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/plugin/adapter.hpp"
#include "mlbridge/sdk/plugin_abi.h"

namespace mlbridge::plugin {

/// Checks the fixed header of `table` (abi_major, abi_minor, struct_size) before anything else
/// of it is read or called, and copies min(struct_size, sizeof(mlbridge_plugin_v1)) bytes into a
/// zero-filled table, so the hooks of a plugin built against an older minor read as NULL.
/// invalid_configuration for a null table, another ABI major (naming both versions) or a table
/// too small to hold the header and identity. `path` is only used in messages.
Result<mlbridge_plugin_v1> copy_plugin_table(const mlbridge_plugin_v1* table,
                                             const std::string& path);

/// A plugin's table (already copied by copy_plugin_table) as an Adapter. The library that holds
/// the table's code must stay loaded for the adapter's whole life.
class CAdapter final : public Adapter {
 public:
  /// Reads the plugin's identity and calls get_defaults and get_error_rules once (their results
  /// are kept: both are constant for a plugin). invalid_configuration, naming the plugin, when
  /// the identity is missing, a hook fails or returns malformed data.
  static Result<std::shared_ptr<const CAdapter>> create(const mlbridge_plugin_v1& table,
                                                        std::string path);

  const AdapterInfo& info() const override { return info_; }
  Result<json> defaults() const override { return defaults_; }
  Status validate(const json& bridge_config) const override;
  std::vector<ErrorRule> error_rules() const override { return rules_; }
  Result<std::string> resource_command(std::string_view verb, std::string_view kind) const override;
  Result<json> shape_args(std::string_view command, json args) const override;
  bool shapes_args() const override { return table_.shape_args != nullptr; }
  session::ReplayRules session_rules() const override { return session_rules_; }

 private:
  CAdapter(const mlbridge_plugin_v1& table, AdapterInfo info);

  mlbridge_plugin_v1 table_;
  AdapterInfo info_;
  json defaults_ = json::object();
  std::vector<ErrorRule> rules_;
  session::ReplayRules session_rules_;
};

/// Parses the JSON array of the get_error_rules hook. invalid_configuration naming the rule and
/// key for anything malformed (unknown category, bad regex, unknown key, wrong type).
Result<std::vector<ErrorRule>> parse_error_rules(const json& rules, const std::string& plugin);

}  // namespace mlbridge::plugin
