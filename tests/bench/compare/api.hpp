#pragma once

// mlbridge's C++ API (mlbridge::Host) on the echo bridge: no-op latency at concurrency 1, no-op
// throughput against concurrent callers for pools of 1 and 2 workers, and payload echoes.
// Main thread only; each function starts and shuts down its own Host.

#include <cstddef>
#include <vector>

namespace mlbridge::bench {

/// "latency" lines: Host::execute of the no-op, JSON and MessagePack, pool of 1.
void run_api_latency(double seconds);
/// "throughput" lines: closed loops of execute_async (each caller keeps one call in flight).
/// One set of rows per pool.pipeline_depth in `depths`.
void run_api_throughput(const std::vector<int>& workers, const std::vector<int>& callers,
                        const std::vector<int>& depths, double seconds);
/// "payload" lines: echo of `sizes` bytes (binary) and of nested JSON-like data of about that
/// size, both codecs, concurrency 1.
void run_api_payload(const std::vector<std::size_t>& sizes, double seconds);

}  // namespace mlbridge::bench
