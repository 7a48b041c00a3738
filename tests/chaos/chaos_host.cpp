#include "chaos_host.hpp"

#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "mlbridge/config/python_locator.hpp"
#include "process_census.hpp"

namespace mlbridge::chaos {
namespace {

using testing::describe;
using testing::ProcessEntry;

// `pool_extra`: more keys of the pool mapping (", key: value").
std::string bridge_yaml(const std::string& name, const std::string& codec,
                        const std::string& pool_extra) {
  return "  " + name +
         ":\n"
         "    script: python_bridges/examples/echo_bridge.py\n"
         "    codec: " +
         codec +
         "\n"
         // Calls wait for a worker until their deadline (never `overloaded`); one overflow worker
         // joins under load and leaves after 2 s idle.
         "    pool: {size: " +
         std::to_string(kPoolSize) +
         ", max_overflow: 1, queue_limit: 10000, checkout_timeout_ms: 600000,"
         " idle_timeout_ms: 2000" +
         pool_extra +
         "}\n"
         "    timeouts: {request_ms: 10000, startup_ms: 60000, shutdown_ms: 3000,"
         " cancel_grace_ms: " +
         std::to_string(kCancelGrace.count()) +
         "}\n"
         // A stopped idle worker misses one ping and is replaced.
         "    health: {interval_ms: 2000, timeout_ms: 2000, max_failures: 1}\n"
         // Killed workers are crashes, not failed starts, but a kill can land on a starting one.
         "    restart: {max_restarts: 100000, window_s: 1}\n"
         "    errors: [{type: RateLimitError, category: rate_limit}]\n"
         // A session's puts are journaled and replayed on the next worker when its own dies
         // (docs/sessions.md), so a session outlives any fault.
         "    sessions:\n"
         "      replay:\n"
         "        setup: [{command: put, object: \"{key}\"}]\n";
}

// Polls `check` until it reports no problem or `limit` passes; returns the last problems.
template <typename Check>
std::vector<std::string> settle(Check check, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto problems = check();
    if (problems.empty() || std::chrono::steady_clock::now() >= deadline) return problems;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

std::vector<std::string> bridge_names(const std::string& marker, bool with_async) {
  std::vector<std::string> names{marker + "a", marker + "b"};
  if (with_async) names.push_back(async_bridge_name(marker));
  return names;
}

std::string async_bridge_name(const std::string& marker) { return marker + "c"; }

std::string chaos_yaml(const std::string& marker, int async_concurrency) {
  const auto names = bridge_names(marker);
  std::string yaml = "host:\n  root: " + std::string(MLBRIDGE_SOURCE_DIR) +
                     "\n  python: " + config::default_python(MLBRIDGE_SOURCE_DIR) + "\nbridges:\n" +
                     // One bridge writes calls to busy workers early (docs/operations.md,
                     // pipelining), so every fault also lands on calls waiting in a worker's stdin.
                     bridge_yaml(names[0], "json", ", pipeline_depth: 1") +
                     bridge_yaml(names[1], "msgpack", ", pipeline_depth: 3");
  // Workers that hold many calls at once (asyncio tasks), so that every fault lands on many.
  if (async_concurrency > 0) {
    yaml += bridge_yaml(async_bridge_name(marker), "json",
                        async_concurrency == 1
                            ? std::string()
                            : ", max_concurrency: " + std::to_string(async_concurrency));
  }
  return yaml;
}

std::vector<WorkerInfo> workers(Host& host) {
  std::vector<WorkerInfo> list;
  for (const auto& bridge : host.bridges()) {
    for (const auto& w : bridge["workers"]) {
      WorkerInfo info{bridge["name"].get<std::string>(), w["id"].get<std::string>(),
                      w["pid"].get<pid_t>(), w["state"].get<std::string>()};
      if (auto n = w.find("in_flight"); n != w.end() && n->is_number_integer()) {
        info.in_flight = n->get<int>();
      } else {
        info.in_flight = info.state == "busy" ? 1 : 0;
      }
      list.push_back(std::move(info));
    }
  }
  return list;
}

bool is_our_worker(pid_t pid, const std::string& worker_id) {
  auto entry = testing::read_process(pid);
  return entry && entry->parent == ::getpid() && entry->state != 'Z' &&
         entry->cmdline.find("--worker-id " + worker_id + " ") != std::string::npos;
}

bool wait_for_full_pools(Host& host, std::chrono::seconds limit,
                         std::vector<std::string>* problems_out) {
  auto problems = settle(
      [&host] {
        std::vector<std::string> wrong;
        for (const auto& bridge : host.bridges()) {
          int idle = 0;
          for (const auto& w : bridge["workers"]) idle += w["state"] == "idle" ? 1 : 0;
          if (bridge["state"] != "running" || idle != kPoolSize ||
              bridge["workers"].size() != static_cast<std::size_t>(kPoolSize)) {
            wrong.push_back(bridge.dump());
          }
        }
        return wrong;
      },
      limit);
  if (problems_out) *problems_out = problems;
  return problems.empty();
}

std::vector<std::string> census_with_host(Host& host, const std::string& marker) {
  return settle(
      [&] {
        std::vector<std::string> problems;
        std::set<pid_t> worker_pids;
        for (const auto& w : workers(host)) worker_pids.insert(w.pid);
        for (const auto& p : testing::descendants_of(::getpid())) {
          if (p.state == 'Z') {
            problems.push_back("zombie " + describe(p));
          } else if (p.parent == ::getpid() && worker_pids.count(p.pid) == 0) {
            problems.push_back("child that is no worker of the host: " + describe(p));
          } else if (p.parent != ::getpid()) {
            problems.push_back("a worker's descendant: " + describe(p));
          }
        }
        for (const auto& p : testing::processes_marked(marker)) {
          if (worker_pids.count(p.pid) == 0) problems.push_back("orphan " + describe(p));
        }
        return problems;
      },
      std::chrono::seconds(15));
}

std::vector<std::string> census_without_host(const std::string& marker) {
  return settle(
      [&] {
        std::vector<std::string> problems;
        for (const auto& p : testing::descendants_of(::getpid())) {
          problems.push_back("left behind: " + describe(p));
        }
        for (const auto& p : testing::processes_marked(marker)) {
          if (p.parent != ::getpid()) problems.push_back("orphan " + describe(p));
        }
        return problems;
      },
      std::chrono::seconds(15));
}

}  // namespace mlbridge::chaos
