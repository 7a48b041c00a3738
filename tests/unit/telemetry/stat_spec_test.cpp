// The stats lists of pool_stats.hpp, call_metrics.hpp and the ops headers (circuit breaker, retry
// budget, casts) are the one declaration of each stat: the structs, Host::stats()' and
// Bridge::describe()'s JSON and /metrics are generated from them. These tests hold the
// JSON to the keys clients read and the lists to what a Prometheus family needs.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "mlbridge/ops/cast_stats.hpp"
#include "mlbridge/ops/circuit_breaker.hpp"
#include "mlbridge/ops/retry_budget.hpp"
#include "mlbridge/pool/pool_stats.hpp"
#include "mlbridge/telemetry/call_metrics.hpp"

namespace mlbridge {
namespace {

using telemetry::StatKind;
using telemetry::StatSpec;

std::set<std::string> keys_of(const pool::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

TEST(StatSpec, PoolStatsJsonHasTheKeysClientsRead) {
  pool::PoolStats stats;
  stats.state = pool::PoolState::kFailed;
  stats.queue_length = 3;
  stats.sessions_lost = 2;
  stats.errors_by_category[ErrorCategory::kTimeout] = 4;
  stats.execution.record(std::chrono::milliseconds(2));
  const auto json = pool::to_json(stats);
  EXPECT_EQ(keys_of(json), (std::set<std::string>{
                               "state", "calls", "errors", "errors_by_category", "queue_length",
                               "in_flight", "busy", "idle", "starting", "restarts", "recycled",
                               "failed_starts", "sessions", "sessions_replayed", "sessions_moved",
                               "sessions_lost", "replay_time", "queue_wait", "execution"}));
  EXPECT_EQ(json["state"], "failed");
  EXPECT_EQ(json["queue_length"], 3);
  EXPECT_EQ(json["sessions_lost"], 2);
  EXPECT_EQ(json["errors_by_category"], (pool::json{{"timeout", 4}}));
  EXPECT_EQ(json["execution"]["count"], 1);
  EXPECT_EQ(keys_of(json["execution"]),
            (std::set<std::string>{"count", "sum_s", "p50_s", "p99_s"}));
}

TEST(StatSpec, WorkerStatsJsonHasTheKeysClientsRead) {
  pool::WorkerStats worker;
  worker.id = "echo-1";
  worker.pid = 42;
  worker.state = "idle";
  worker.rss_bytes = 1024;
  const auto json = pool::to_json(worker);
  EXPECT_EQ(keys_of(json),
            (std::set<std::string>{"id", "pid", "state", "calls", "errors", "health_checks",
                                   "sessions", "in_flight", "capacity", "rss_bytes"}));
  EXPECT_EQ(json["rss_bytes"], 1024);
  EXPECT_EQ(json["pid"], 42);
}

void expect_exportable(std::span<const StatSpec> specs) {
  std::map<std::string_view, const StatSpec*> families;
  for (const StatSpec& spec : specs) {
    SCOPED_TRACE(std::string(spec.member));
    EXPECT_FALSE(spec.help.empty());
    if (spec.family.empty()) continue;
    EXPECT_EQ(spec.family.rfind("mlbridge_", 0), 0u) << spec.family;
    EXPECT_EQ(spec.family.ends_with("_total"), spec.kind == StatKind::kCounter) << spec.family;
    if (spec.kind == StatKind::kHistogram) {
      EXPECT_TRUE(spec.family.ends_with("_seconds")) << spec.family;
    }
    // Members of one family (workers by state) must agree on what the family is.
    auto [it, first] = families.emplace(spec.family, &spec);
    if (!first) {
      EXPECT_EQ(it->second->kind, spec.kind) << spec.family;
      EXPECT_EQ(it->second->help, spec.help) << spec.family;
      EXPECT_FALSE(spec.state.empty()) << spec.family << ": members must differ by state";
    }
  }
}

TEST(StatSpec, EveryExportedFamilyIsWellFormed) {
  expect_exportable(pool::kPoolStatSpecs);
  expect_exportable(pool::kWorkerStatSpecs);
  expect_exportable(telemetry::kCallStatSpecs);
}

TEST(StatSpec, VisitsEveryMemberInListOrder) {
  telemetry::CommandMetrics command;
  command.ok = 5;
  std::vector<std::string_view> seen;
  telemetry::visit_stats(command,
                         [&](const StatSpec& spec, const auto&) { seen.push_back(spec.member); });
  EXPECT_EQ(seen, (std::vector<std::string_view>{"ok", "queue_wait", "execution", "total"}));
}

// Bridge::describe()'s "circuit", "retries" and "casts" objects: keys clients read, which are not
// the member names.
TEST(StatSpec, OperationsJsonHasTheKeysClientsRead) {
  ops::CircuitBreaker::Snapshot circuit;
  circuit.state = ops::CircuitState::kHalfOpen;
  circuit.enabled = true;
  circuit.consecutive_failures = 2;
  circuit.opened = 3;
  circuit.rejected = 4;
  circuit.opened_at = "2026-01-01T00:00:00Z";
  const auto circuit_json = ops::stats_json(circuit);
  EXPECT_EQ(circuit_json, (pool::json{{"state", "half_open"},
                                      {"enabled", true},
                                      {"consecutive_failures", 2},
                                      {"opened", 3},
                                      {"rejected", 4}}));

  ops::RetryBudget::Snapshot retry;
  retry.tokens = 2.5;
  retry.retries = 6;
  retry.exhausted = 7;
  EXPECT_EQ(ops::stats_json(retry),
            (pool::json{{"retried", 6}, {"budget_exhausted", 7}, {"budget_tokens", 2.5}}));

  ops::CastStats casts;
  casts.sent = 8;
  casts.failed = 1;
  EXPECT_EQ(ops::stats_json(casts), (pool::json{{"sent", 8}, {"failed", 1}}));
}

std::vector<std::string> families_of(std::span<const ops::OpsStatSpec> specs) {
  std::vector<std::string> families;
  for (const auto& spec : specs) {
    if (spec.family.empty()) continue;
    std::string family(spec.family);
    if (!spec.label.empty()) {
      family += "{" + std::string(spec.label) + "=" + std::string(spec.label_value) + "}";
    }
    families.push_back(family + " " + std::string(telemetry::prometheus_type(spec.kind)) + " " +
                       std::string(spec.help));
  }
  return families;
}

// /metrics' circuit, retry and cast families as dashboards and alerts know them, in order.
TEST(StatSpec, OperationsFamiliesKeepTheirNamesLabelsAndHelp) {
  EXPECT_EQ(families_of(ops::kCircuitStatSpecs),
            (std::vector<std::string>{
                "mlbridge_circuit_state gauge Circuit breaker state: 0 closed, 1 open, 2 "
                "half-open (probing).",
                "mlbridge_circuit_opened_total counter Times the circuit breaker opened.",
                "mlbridge_circuit_rejected_total counter Calls failed fast because the circuit "
                "was open."}));
  EXPECT_EQ(families_of(ops::kRetryStatSpecs),
            (std::vector<std::string>{
                "mlbridge_retries_total counter Retries of idempotent calls.",
                "mlbridge_retry_budget_exhausted_total counter Retries refused because the "
                "bridge's retry budget was used up."}));
  EXPECT_EQ(families_of(ops::kCastStatSpecs),
            (std::vector<std::string>{
                "mlbridge_casts_total{outcome=sent} counter Fire-and-forget calls by outcome "
                "(sent, failed).",
                "mlbridge_casts_total{outcome=failed} counter Fire-and-forget calls by outcome "
                "(sent, failed)."}));
  for (auto specs : {std::span<const ops::OpsStatSpec>(ops::kCircuitStatSpecs),
                     std::span<const ops::OpsStatSpec>(ops::kRetryStatSpecs),
                     std::span<const ops::OpsStatSpec>(ops::kCastStatSpecs)}) {
    for (const auto& spec : specs) {
      SCOPED_TRACE(std::string(spec.member));
      EXPECT_FALSE(spec.help.empty());
      EXPECT_FALSE(spec.json.empty());
      if (spec.family.empty()) continue;
      EXPECT_EQ(spec.family.rfind("mlbridge_", 0), 0u);
      EXPECT_EQ(spec.family.ends_with("_total"), spec.kind == StatKind::kCounter);
    }
  }
}

}  // namespace
}  // namespace mlbridge
