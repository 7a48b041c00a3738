#pragma once

/// @file
/// Stats declared once (Envoy's `ALL_*_STATS(COUNTER, GAUGE, HISTOGRAM)` + `GENERATE_*_STRUCT`).
/// A stats struct lists its figures in one X-macro, each as
/// `KIND(member, "prometheus_family", "state label", "help")`; the struct's members, the JSON of
/// the host's statistics and the families of `/metrics` are all generated from that list, so a
/// stat added there appears everywhere at once. A family of "" is not exported to `/metrics`
/// (the figure is there per command instead); a state label of "" adds no `state` label.
/// Plain data and macros; any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mlbridge/telemetry/histogram.hpp"

namespace mlbridge::telemetry {

/// What a stat is, in Prometheus terms.
enum class StatKind { kCounter, kGauge, kHistogram };

/// "counter", "gauge", "histogram".
constexpr std::string_view prometheus_type(StatKind kind) {
  return kind == StatKind::kCounter ? "counter" : kind == StatKind::kGauge ? "gauge" : "histogram";
}

/// One declared stat, as the macros spell it.
struct StatSpec {
  std::string_view member;  ///< The struct member, and the key in JSON.
  StatKind kind;
  std::string_view family;  ///< The `/metrics` family, or "" when not exported there.
  std::string_view state;   ///< The `state` label's value within the family, or "".
  std::string_view help;    ///< The family's HELP text.
};

}  // namespace mlbridge::telemetry

// Members: counters count up (std::uint64_t), gauges go up and down (std::size_t), histograms are
// latency histograms.
#define MLBRIDGE_GENERATE_COUNTER_MEMBER(member, family, state, help) std::uint64_t member = 0;
#define MLBRIDGE_GENERATE_GAUGE_MEMBER(member, family, state, help) std::size_t member = 0;
#define MLBRIDGE_GENERATE_HISTOGRAM_MEMBER(member, family, state, help) \
  ::mlbridge::telemetry::LatencyHistogram member;

// The StatSpec of each entry, as an element of an array initializer.
#define MLBRIDGE_GENERATE_COUNTER_SPEC(member, family, state, help)                           \
  ::mlbridge::telemetry::StatSpec{#member, ::mlbridge::telemetry::StatKind::kCounter, family, \
                                  state, help},
#define MLBRIDGE_GENERATE_GAUGE_SPEC(member, family, state, help)                                  \
  ::mlbridge::telemetry::StatSpec{#member, ::mlbridge::telemetry::StatKind::kGauge, family, state, \
                                  help},
#define MLBRIDGE_GENERATE_HISTOGRAM_SPEC(member, family, state, help)                           \
  ::mlbridge::telemetry::StatSpec{#member, ::mlbridge::telemetry::StatKind::kHistogram, family, \
                                  state, help},

/// Inside a function with `stats` (the struct), `specs` (its StatSpec array, in list order),
/// `index` (a std::size_t from 0) and `visit`: calls visit(spec, value) for each entry in order.
#define MLBRIDGE_GENERATE_VISIT(member, family, state, help) visit(specs[index++], stats.member);

/// The struct members of a list.
#define MLBRIDGE_GENERATE_STAT_MEMBERS(ALL_STATS)                             \
  ALL_STATS(MLBRIDGE_GENERATE_COUNTER_MEMBER, MLBRIDGE_GENERATE_GAUGE_MEMBER, \
            MLBRIDGE_GENERATE_HISTOGRAM_MEMBER)

/// The StatSpec array of a list: `inline constexpr StatSpec kSpecs[] =
/// MLBRIDGE_GENERATE_STAT_SPECS(...)`.
#define MLBRIDGE_GENERATE_STAT_SPECS(ALL_STATS)                             \
  {                                                                         \
    ALL_STATS(MLBRIDGE_GENERATE_COUNTER_SPEC, MLBRIDGE_GENERATE_GAUGE_SPEC, \
              MLBRIDGE_GENERATE_HISTOGRAM_SPEC)                             \
  }

/// The body of a `visit_*(const Struct& stats, Visit&& visit)` over a list whose specs are `SPECS`.
#define MLBRIDGE_GENERATE_STAT_VISIT(ALL_STATS, SPECS)                                 \
  const auto& specs = SPECS;                                                           \
  std::size_t index = 0;                                                               \
  ALL_STATS(MLBRIDGE_GENERATE_VISIT, MLBRIDGE_GENERATE_VISIT, MLBRIDGE_GENERATE_VISIT) \
  static_cast<void>(index)
