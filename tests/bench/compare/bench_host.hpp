#pragma once

// A Host for the comparison drivers, configured in code: the echo bridge and the plugin bridges
// (dspy, langchain, transformers) of this checkout, health pings off so that only the measured
// calls reach the workers. Call from the driver's main thread.

#include <memory>
#include <string>
#include <vector>

#include "mlbridge/host.hpp"

namespace mlbridge::bench {

struct BridgeSpec {
  std::string name;               ///< the bridge's name in the host
  std::string kind = "echo";      ///< echo (the example bridge), dspy, langchain or transformers
  std::string codec = "msgpack";  ///< json | msgpack
  int pool_size = 1;
  int pipeline_depth = 1;  ///< pool.pipeline_depth
};

/// A host with these bridges, not started yet; host.loop_spin_us is $MLBRIDGE_BENCH_LOOP_SPIN_US
/// when set (the comparison measures the API with the loop's polling off too). Aborts with a
/// message when the config is invalid (a driver bug, not a measurement).
std::unique_ptr<Host> make_host(const std::vector<BridgeSpec>& bridges);

/// The pids of a bridge's workers (from Host::bridge).
std::vector<int> worker_pids(Host& host, const std::string& bridge);

}  // namespace mlbridge::bench
