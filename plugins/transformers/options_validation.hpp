#pragma once

/// @file
/// Checks a `plugin: transformers` bridge's merged config before any worker starts, so that a
/// mistake is a config error naming its key rather than a worker that fails its init minutes
/// into a deployment. Mirrors transformers_bridge.py's initialize() and load_model: the option
/// names, types and ranges, devices, dtypes and tasks, and the directories (model_dirs,
/// cache_dir) exist. A relative directory is checked against an absolute `working_dir` when
/// there is one; otherwise the worker checks it at init (against its working directory, the host
/// root), because the plugin does not know the root.
///
/// Stricter than the bridge in three places, each a deployment that would not do what it says:
/// a CUDA device on a machine with no NVIDIA GPU, `env.set.HF_HUB_OFFLINE` other than "1" (the
/// bridge forces offline mode whatever the environment says), and an `options.max_model_memory_mb`
/// budget at or above `limits.max_memory_mb` (the host would recycle the worker, and its models,
/// before the bridge ever refused a load).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::transformers_plugin {

using json = nlohmann::json;

/// The keys of `options` initialize() accepts, sorted.
const std::vector<std::string>& option_names();

/// The tasks load_model accepts (canonical names, then aliases).
const std::vector<std::string>& task_names();

/// Every problem of the bridge config `bridge` (YAML keys, plugin defaults merged), each naming
/// its key; empty when the config is fine.
std::vector<std::string> check_bridge_config(const json& bridge);

/// Whether this machine shows an NVIDIA GPU (/dev/nvidia0 or /proc/driver/nvidia/gpus).
bool nvidia_gpu_present();

}  // namespace mlbridge::transformers_plugin
