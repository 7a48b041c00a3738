#include "mlbridge/worker/worker_config.hpp"

#include <cstdlib>

#include "mlbridge/protocol/message.hpp"

namespace mlbridge::worker {

std::map<std::string, std::string> minimal_environment() {
  std::map<std::string, std::string> env;
  for (const char* name : {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  return env;
}

process::ProcessSpec make_process_spec(const WorkerConfig& config) {
  process::ProcessSpec spec;
  spec.executable = config.python;
  spec.args = {config.script,
               "--worker-id",
               config.worker_id,
               "--codec",
               std::string(protocol::to_string(config.codec)),
               "--protocol",
               std::to_string(protocol::kProtocolVersion),
               "--max-frame-bytes",
               std::to_string(config.max_frame_bytes)};
  if (config.max_concurrency) {
    spec.args.push_back("--concurrency");
    spec.args.push_back(std::to_string(*config.max_concurrency));
  }
  for (const auto& path : config.code_paths) {
    spec.args.push_back("--code-path");
    spec.args.push_back(path);
  }
  for (const auto& module : config.code_modules) {
    spec.args.push_back("--code-module");
    spec.args.push_back(module);
  }
  spec.args.insert(spec.args.end(), config.extra_args.begin(), config.extra_args.end());
  spec.env = config.env;
  spec.working_dir = config.working_dir;
  spec.memory_limit_bytes = config.memory_limit_bytes;
  return spec;
}

}  // namespace mlbridge::worker
