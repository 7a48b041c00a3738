#pragma once

// The host under test: two echo bridges (one JSON, one MessagePack) with small pools and generous
// limits, their workers as the chaos thread sees them, and the census of processes and resources
// that must hold after the run. Functions that take a Host may be called from any thread but the
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
/// Each bridge's cancel_grace_ms: how long a worker may ignore SIGINT before it is killed.
inline constexpr std::chrono::milliseconds kCancelGrace{1000};

/// The deployment: bridges named `<marker>a` and `<marker>b`, so that the marker found in a
/// process's command line (`--worker-id <marker>a-3`) identifies this run's workers anywhere.
std::string chaos_yaml(const std::string& marker);
std::vector<std::string> bridge_names(const std::string& marker);

/// A worker as the host reports it.
struct WorkerInfo {
  std::string bridge;
  std::string id;
  pid_t pid = 0;
  std::string state;  ///< starting, idle, busy, checking, retiring
};

std::vector<WorkerInfo> workers(Host& host);

/// True when `pid` is still our child running worker `worker_id` (guards against pid reuse).
bool is_our_worker(pid_t pid, const std::string& worker_id);

/// Waits until every bridge runs with exactly kPoolSize idle workers; false after `limit`.
bool wait_for_full_pools(Host& host, std::chrono::seconds limit);

/// What is wrong with the processes while the host runs: children that are not its workers,
/// zombies, descendants of workers, processes carrying the marker that are not workers.
/// Empty when all is well.
std::vector<std::string> census_with_host(Host& host, const std::string& marker);
/// What is left after the host was destroyed: any child, any process carrying the marker.
std::vector<std::string> census_without_host(const std::string& marker);

}  // namespace mlbridge::chaos
