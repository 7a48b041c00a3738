#pragma once

// The host under test: two echo bridges (one JSON, one MessagePack) with small pools and generous
// limits, optionally a third whose workers hold many calls at once (pool.max_concurrency), their
// workers as the chaos thread sees them, and the census of processes and resources that must hold
// after the run. Functions that take a Host may be called from any thread but the
// host's loop thread.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mlbridge/host.hpp"

namespace mlbridge::chaos {

/// Pool size of each bridge.
inline constexpr int kPoolSize = 2;
/// Each bridge's cancel_grace_ms: how long a worker may ignore a cancel (SIGINT, or a `cancel`
/// message on the concurrent bridge) before it is killed or condemned.
inline constexpr std::chrono::milliseconds kCancelGrace{1000};
/// pool.max_concurrency of the concurrent bridge by default: calls one of its workers holds.
inline constexpr int kAsyncConcurrency = 256;

/// The deployment: bridges named `<marker>a` and `<marker>b` (one call per worker), and with
/// `async_concurrency` > 0 also `<marker>c` (the echo bridge at pool.max_concurrency
/// `async_concurrency`; at 1 the key is left out: today's one-call path), so that the marker
/// found in a process's command line (`--worker-id <marker>a-3`) identifies this run's workers
/// anywhere.
std::string chaos_yaml(const std::string& marker, int async_concurrency = 0);
std::vector<std::string> bridge_names(const std::string& marker, bool with_async = false);
/// The name of the concurrent bridge (`<marker>c`).
std::string async_bridge_name(const std::string& marker);

/// A worker as the host reports it.
struct WorkerInfo {
  std::string bridge;
  std::string id;
  pid_t pid = 0;
  std::string state;  ///< starting, idle, busy, checking, retiring
  /// Calls in flight on it (`in_flight` of the host's description; 0 or 1 where not reported).
  int in_flight = 0;
};

std::vector<WorkerInfo> workers(Host& host);

/// True when `pid` is still our child running worker `worker_id` (guards against pid reuse).
bool is_our_worker(pid_t pid, const std::string& worker_id);

/// Waits until every bridge runs with exactly kPoolSize idle workers; false after `limit`. On
/// false, `problems` (when given) receives the descriptions of the bridges that were not.
bool wait_for_full_pools(Host& host, std::chrono::seconds limit,
                         std::vector<std::string>* problems = nullptr);

/// What is wrong with the processes while the host runs: children that are not its workers,
/// zombies, descendants of workers, processes carrying the marker that are not workers.
/// Empty when all is well.
std::vector<std::string> census_with_host(Host& host, const std::string& marker);
/// What is left after the host was destroyed: any child, any process carrying the marker.
std::vector<std::string> census_without_host(const std::string& marker);

}  // namespace mlbridge::chaos
