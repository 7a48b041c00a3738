// Fuzzes the YAML config loader: parse_yaml (yaml-cpp, then mlbridge's typing of scalars, ${VAR}
// expansion and the source map), parse_host_config (every key's validation) and, for a config that
// validates, to_pool_config of each bridge. Every failure must be an invalid_configuration error.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "mlbridge/config/host_config.hpp"
#include "mlbridge/config/yaml_loader.hpp"

namespace {

void check_failure(const mlbridge::Error& error) {
  if (error.category != mlbridge::ErrorCategory::kInvalidConfiguration) std::abort();
}

// A fixed environment, so that a run does not depend on the machine: names of even length are
// set, the others unset.
std::optional<std::string> lookup(const std::string& name) {
  if (name.size() % 2 == 0) return "v" + name;
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mlbridge::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  SourceMap map;
  auto doc = parse_yaml(text, "fuzz.yaml", map, lookup);
  if (!doc) {
    check_failure(doc.error());
    return 0;
  }
  auto config = parse_host_config(*doc, map);
  if (!config) {
    check_failure(config.error());
    return 0;
  }
  for (const auto& [name, bridge] : config->bridges) {
    auto pool = to_pool_config(bridge, *config);
    if (!pool) check_failure(pool.error());
  }
  return 0;
}
