#pragma once

// Start-up, failure and memory of mlbridge's bridges, through the C++ API:
//  - cold start per bridge (echo, dspy, langchain, transformers): Host::start() → worker spawned
//    (plugin, config, environment check) → ready → first answer (a ping), beside a bare
//    interpreter start and the bridge's imports timed in a fresh interpreter;
//  - host and worker memory (RSS and PSS from /proc/<pid>/smaps_rollup) once the bridge answers;
//  - recovery: SIGKILL of a busy worker while callers keep calling.
// Main thread only; each function starts and shuts down its own Host.

#include <string>

namespace mlbridge::bench {

/// One "coldstart" line and "memory" lines (host, worker) for bridge `kind`.
void run_cold_start(const std::string& kind);
/// One "recovery" line: a pool of `workers`, `callers` closed-loop callers, one worker killed.
void run_recovery(int workers, int callers);

}  // namespace mlbridge::bench
