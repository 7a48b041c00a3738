#pragma once

/// @file
/// Every key of a bridge's configuration, declared once: its dotted path, type, range, whether a
/// running bridge takes a change, its one-line documentation, where it is stored in BridgeConfig
/// and, where the mapping is 1:1, where it goes in the pool's settings. The reader
/// (parse_bridge_config), the conversion (to_pool_config), the live-change check
/// (needs_new_bridge) and the key reference in docs/configuration.md (`mlbridge config-keys`)
/// all iterate this one table, so adding a key is one row here plus its BridgeConfig member.
/// Defaults are the BridgeConfig member initializers; the reference shows them from a
/// default-constructed BridgeConfig.
/// Immutable static data; any thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "mlbridge/config/bridge_config.hpp"
#include "mlbridge/pool/pool_config.hpp"

namespace mlbridge::config {

/// How a key's value is read and checked (and how the reference names its type).
enum class KeyType {
  kInteger,          ///< An integer in [min, max].
  kOptionalInteger,  ///< The same, or null for "unset".
  kMilliseconds,     ///< An integer number of milliseconds in [min, max].
  kSeconds,          ///< An integer number of seconds in [min, max].
  kBoolean,
  kString,
  kNonEmptyString,
  kPluginName,   ///< A plugin name: letters, digits, '_' and '-' (libmlbridge_<name>.so).
  kCodec,        ///< One of protocol::Codec's names.
  kStringList,   ///< A list of non-empty strings (null: empty).
  kEnvNames,     ///< A list of environment variable names (null: empty).
  kModuleNames,  ///< A list of dotted Python module names, `pkg.mod` (null: empty).
  kEnvValues,    ///< A map of environment variable names to text (numbers taken as written).
  kMap,          ///< Any map (null: empty).
  kErrorRules,   ///< The `errors:` list of ErrorOverride rules.
  kReplayRules   ///< session::ReplayRules' JSON form.
};

/// Where a key lives in BridgeConfig (reads and writes) and, when its value goes 1:1 into the
/// pool's settings, how. Function pointers, so a table of them is static data.
template <typename T>
struct Field {
  using Value = T;
  T& (*at)(BridgeConfig&);
  const T& (*get)(const BridgeConfig&);
  void (*to_pool)(const T&, pool::PoolConfig&) = nullptr;  ///< null: not a 1:1 pool setting.
};

/// One alternative per type a key is stored as. (std::size_t and std::uint64_t are one type on
/// the LP64 targets mlbridge builds for; a static_assert in bridge_keys.cpp holds that.)
using FieldRef =
    std::variant<Field<std::uint64_t>, Field<std::uint32_t>, Field<std::optional<std::uint64_t>>,
                 Field<std::chrono::milliseconds>, Field<std::chrono::seconds>, Field<bool>,
                 Field<std::string>, Field<std::optional<std::string>>, Field<protocol::Codec>,
                 Field<std::vector<std::string>>, Field<std::map<std::string, std::string>>,
                 Field<json>, Field<std::vector<ErrorOverride>>>;

struct KeySpec {
  std::string_view path;  ///< Dotted, as written in YAML: "pool.size", "codec".
  KeyType type;
  std::uint64_t min = 0;  ///< Integer types: the smallest value accepted.
  std::uint64_t max = 0;  ///< Integer types: the largest value accepted.
  /// A running bridge takes a change of this key (Registry::update_bridge, PATCH, SIGHUP). When
  /// false the change needs new worker programs, and the bridge is registered again instead.
  bool live = true;
  std::string_view doc;  ///< One line for the reference.
  /// What the reference shows as the default when the value alone would not say it ("host.root"
  /// for an empty working_dir); "" shows the default-constructed BridgeConfig's value.
  std::string_view default_text;
  FieldRef field;

  /// The section ("pool" of "pool.size"), or "" for a top-level key.
  std::string_view section() const;
  /// The last segment ("size" of "pool.size"; the whole path for a top-level key).
  std::string_view name() const;
};

/// The table, in the order keys are listed in error messages and the reference.
std::span<const KeySpec> bridge_keys();

/// The key with this dotted path, or null.
const KeySpec* find_bridge_key(std::string_view path);

/// The top-level keys in table order: each top-level key and each section once ("plugin", ...,
/// "pool", "timeouts", ...).
const std::vector<std::string_view>& bridge_top_level_keys();

/// The keys of one section in table order ("size", "max_overflow", ... for "pool"); empty when
/// `section` is not one.
std::vector<std::string_view> bridge_section_keys(std::string_view section);

/// The key reference as a Markdown table (key, type, default, live, description), the text
/// docs/configuration.md carries between its generated-section markers.
std::string bridge_keys_markdown();

}  // namespace mlbridge::config
