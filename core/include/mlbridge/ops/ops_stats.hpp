#pragma once

/// @file
/// The operational stats of a bridge (circuit breaker, retry budget, fire-and-forget calls),
/// declared once like the pool's (telemetry/stat_spec.hpp). A list names each figure as
/// `COUNTER(member, "json key", "prometheus_family", "label", "label value", "help")` or
/// `GAUGE(Type, member, "json key", "prometheus_family", "label", "label value", "help")`; the
/// struct members, the JSON of `Bridge::describe()` and the `/metrics` families (each sample with
/// a `bridge` label, and `label="label value"` where given) are generated from it. A family of ""
/// is not exported to `/metrics`. Plain data, macros and templates; any thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/telemetry/stat_spec.hpp"

namespace mlbridge::ops {

/// One declared operational stat, as the macros spell it.
struct OpsStatSpec {
  std::string_view member;  ///< The struct member.
  std::string_view json;    ///< Its key in `Bridge::describe()`'s JSON.
  telemetry::StatKind kind;
  std::string_view family;       ///< The `/metrics` family, or "" when not exported there.
  std::string_view label;        ///< A label telling apart the members of one family, or "".
  std::string_view label_value;  ///< That label's value.
  std::string_view help;         ///< The family's HELP text.
};

/// A figure's value in JSON: an enum by its to_string() name, anything else as it is.
template <typename Value>
protocol::json json_value(const Value& value) {
  if constexpr (std::is_enum_v<Value>) {
    return std::string(to_string(value));
  } else {
    return value;
  }
}

/// A figure's value as a `/metrics` sample: an enum by its number.
template <typename Value>
double metric_value(const Value& value) {
  if constexpr (std::is_enum_v<Value>) {
    return static_cast<double>(static_cast<int>(value));
  } else {
    return static_cast<double>(value);
  }
}

/// `{json key: value}` of every figure of a declared stats struct (one with a `visit_stats`).
template <typename Stats>
protocol::json stats_json(const Stats& stats) {
  protocol::json out = protocol::json::object();
  visit_stats(stats, [&](const OpsStatSpec& spec, const auto& value) {
    out[std::string(spec.json)] = json_value(value);
  });
  return out;
}

}  // namespace mlbridge::ops

// Members: counters are std::uint64_t, a gauge has the type its entry gives.
#define MLBRIDGE_GENERATE_OPS_COUNTER_MEMBER(member, json, family, label, value, help) \
  std::uint64_t member = 0;
#define MLBRIDGE_GENERATE_OPS_GAUGE_MEMBER(Type, member, json, family, label, value, help) \
  Type member{};

// The OpsStatSpec of each entry, as an element of an array initializer.
#define MLBRIDGE_GENERATE_OPS_COUNTER_SPEC(member, json, family, label, value, help) \
  ::mlbridge::ops::OpsStatSpec{                                                      \
      #member, json, ::mlbridge::telemetry::StatKind::kCounter, family, label, value, help},
#define MLBRIDGE_GENERATE_OPS_GAUGE_SPEC(Type, member, json, family, label, value, help) \
  ::mlbridge::ops::OpsStatSpec{                                                          \
      #member, json, ::mlbridge::telemetry::StatKind::kGauge, family, label, value, help},

// One visit(spec, value) call per entry (see MLBRIDGE_GENERATE_OPS_STAT_VISIT).
#define MLBRIDGE_GENERATE_OPS_COUNTER_VISIT(member, json, family, label, value, help) \
  visit(specs[index++], stats.member);
#define MLBRIDGE_GENERATE_OPS_GAUGE_VISIT(Type, member, json, family, label, value, help) \
  visit(specs[index++], stats.member);

/// The struct members of a list.
#define MLBRIDGE_GENERATE_OPS_STAT_MEMBERS(ALL_STATS) \
  ALL_STATS(MLBRIDGE_GENERATE_OPS_COUNTER_MEMBER, MLBRIDGE_GENERATE_OPS_GAUGE_MEMBER)

/// The OpsStatSpec array of a list: `inline constexpr OpsStatSpec kSpecs[] =
/// MLBRIDGE_GENERATE_OPS_STAT_SPECS(...)`.
#define MLBRIDGE_GENERATE_OPS_STAT_SPECS(ALL_STATS) \
  { ALL_STATS(MLBRIDGE_GENERATE_OPS_COUNTER_SPEC, MLBRIDGE_GENERATE_OPS_GAUGE_SPEC) }

/// The body of a `visit_*(const Struct& stats, Visit&& visit)` over a list whose specs are
/// `SPECS`: calls visit(spec, value) for each entry in list order.
#define MLBRIDGE_GENERATE_OPS_STAT_VISIT(ALL_STATS, SPECS)                          \
  const auto& specs = SPECS;                                                        \
  std::size_t index = 0;                                                            \
  ALL_STATS(MLBRIDGE_GENERATE_OPS_COUNTER_VISIT, MLBRIDGE_GENERATE_OPS_GAUGE_VISIT) \
  static_cast<void>(index)
