#pragma once

// /metrics: the host's figures in the Prometheus text exposition format (version 0.0.4).

#include <chrono>
#include <string>

#include "mlbridge/host.hpp"
#include "mlbridge/host_snapshot.hpp"

namespace mlbridge::server {

/// Per bridge and command: calls by outcome and error category, latency histograms (queue wait,
/// execution, total); per bridge: queue length, workers by state, restarts, recycled workers,
/// failed starts, sessions, worker RSS; per host: uptime and build info. Blocking (reads pool
/// statistics); call from a request thread, never from the event loop.
std::string render_metrics(Host& host, std::chrono::steady_clock::time_point started);
/// The same from a snapshot (Host::snapshot()) and the server's uptime. Pure; any thread.
std::string render_metrics(const HostSnapshot& snapshot, std::chrono::nanoseconds uptime);

}  // namespace mlbridge::server
