#include "bench_host.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_paths.hpp"

namespace mlbridge::bench {

std::unique_ptr<Host> make_host(const std::vector<BridgeSpec>& bridges) {
  std::ostringstream yaml;
  yaml << "host:\n  root: " << MLBRIDGE_SOURCE_DIR << "\n  python: " << testing::python()
       << "\n  plugin_dirs: [" << MLBRIDGE_PLUGIN_DIR << "]\n  log_level: warn\n";
  if (const char* spin = std::getenv("MLBRIDGE_BENCH_LOOP_SPIN_US")) {
    yaml << "  loop_spin_us: " << spin << "\n";
  }
  yaml << "bridges:\n";
  for (const auto& b : bridges) {
    yaml << "  " << b.name << ":\n";
    if (b.kind == "echo") {
      yaml << "    script: " << testing::echo_bridge() << "\n";
    } else {
      yaml << "    plugin: " << b.kind << "\n";
    }
    yaml << "    codec: " << b.codec << "\n    pool: {size: " << b.pool_size
         << ", queue_limit: 100000, pipeline_depth: " << b.pipeline_depth
         << "}\n    health: {interval_ms: 0}\n";
    if (b.kind == "transformers") {
      yaml << "    options: {model_dirs: [" << testing::source_path("build/models") << "]}\n";
    }
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("mlbridge-compare-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << yaml.str();
  auto host = Host::from_file(path.string());
  std::filesystem::remove(path);
  if (!host) {
    std::fprintf(stderr, "compare_bench: bad host config: %s\n%s", host.error().message.c_str(),
                 yaml.str().c_str());
    std::exit(2);
  }
  return std::move(*host);
}

std::vector<int> worker_pids(Host& host, const std::string& bridge) {
  std::vector<int> pids;
  auto described = host.bridge(bridge);
  if (!described) return pids;
  for (const auto& worker : (*described)["workers"]) {
    const int pid = worker.value("pid", -1);
    if (pid > 0) pids.push_back(pid);
  }
  return pids;
}

}  // namespace mlbridge::bench
