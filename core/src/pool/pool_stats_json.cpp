// The JSON of pool and worker statistics, generated from their declarations in pool_stats.hpp.

#include "mlbridge/pool/pool_stats.hpp"

namespace mlbridge::pool {
namespace {

json stat_json(std::uint64_t value) { return value; }

json stat_json(const telemetry::LatencyHistogram& h) {
  return {{"count", h.count()},
          {"sum_s", h.sum_seconds()},
          {"p50_s", h.quantile(0.5)},
          {"p99_s", h.quantile(0.99)}};
}

template <typename Stats>
void add_declared(const Stats& stats, json& out) {
  visit_stats(stats, [&](const telemetry::StatSpec& spec, const auto& value) {
    out[std::string(spec.member)] = stat_json(value);
  });
}

}  // namespace

json to_json(const WorkerStats& stats) {
  json out = {{"id", stats.id}, {"pid", stats.pid}, {"state", stats.state}};
  add_declared(stats, out);
  return out;
}

json to_json(const PoolStats& stats) {
  json by_category = json::object();
  for (const auto& [category, count] : stats.errors_by_category) {
    by_category[std::string(to_string(category))] = count;
  }
  json out = {{"state", std::string(to_string(stats.state))}, {"errors_by_category", by_category}};
  add_declared(stats, out);
  return out;
}

}  // namespace mlbridge::pool
