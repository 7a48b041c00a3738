#include "options_validation.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <regex>
#include <system_error>

namespace mlbridge::transformers_plugin {
namespace {

namespace fs = std::filesystem;

std::string listed(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// "42", "\"gpt\"", "a map": short enough for one line of a config error.
std::string shown(const json& value) {
  if (value.is_object()) return "a map";
  if (value.is_array()) return "a list";
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

const std::vector<std::string>& device_names() {
  static const std::vector<std::string> names = {"auto", "cpu", "cuda", "cuda:N"};
  return names;
}

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"auto", "float32", "fp32",     "float", "float16",
                                                 "fp16", "half",    "bfloat16", "bf16"};
  return names;
}

bool is_cuda(const std::string& device) {
  static const std::regex pattern("^cuda(:[0-9]+)?$");
  return std::regex_match(device, pattern);
}

// _option_int of transformers_bridge.py: an integer (a JSON bool is not one) from low to high.
std::optional<long long> check_int(const json& options, const char* key, long long low,
                                   long long high, std::vector<std::string>& problems) {
  const auto found = options.find(key);
  if (found == options.end() || found->is_null()) return std::nullopt;
  if (!found->is_number_integer() || found->get<long long>() < low ||
      found->get<long long>() > high) {
    problems.push_back(std::string("options.") + key + " must be an integer from " +
                       std::to_string(low) + " to " + std::to_string(high) + " (got " +
                       shown(*found) + ")");
    return std::nullopt;
  }
  return found->get<long long>();
}

void check_device(const json& value, const std::string& key, std::vector<std::string>& problems) {
  if (value.is_null()) return;
  if (!value.is_string() ||
      !(value == "auto" || value == "cpu" || is_cuda(value.get<std::string>()))) {
    problems.push_back(key + " must be one of " + listed(device_names()) + " (got " + shown(value) +
                       ")");
    return;
  }
  if (is_cuda(value.get<std::string>()) && !nvidia_gpu_present()) {
    problems.push_back(key + " is " + shown(value) +
                       ", but this machine shows no NVIDIA GPU (no /dev/nvidia0): CUDA is not "
                       "available; use cpu or auto");
  }
}

void check_dtype(const json& value, const std::string& key, std::vector<std::string>& problems) {
  if (value.is_null()) return;
  if (!value.is_string() || !contains(dtype_names(), value.get<std::string>())) {
    problems.push_back(key + " must be one of " + listed(dtype_names()) + " (got " + shown(value) +
                       ")");
  }
}

// A directory option: a path that exists (absolute, or relative to an absolute working_dir).
void check_dir(const json& value, const std::string& key, const json& bridge,
               std::vector<std::string>& problems) {
  if (!value.is_string() || value.get<std::string>().empty()) {
    problems.push_back(key + " must be a directory path (got " + shown(value) + ")");
    return;
  }
  fs::path path(value.get<std::string>());
  if (path.is_relative()) {
    const auto working_dir = bridge.find("working_dir");
    if (working_dir == bridge.end() || !working_dir->is_string()) return;  // the worker checks
    const fs::path base(working_dir->get<std::string>());
    if (!base.is_absolute()) return;
    path = base / path;
  }
  std::error_code error;
  if (!fs::is_directory(path, error)) {
    problems.push_back(key + ": " + path.string() + " is not a directory" +
                       (fs::exists(path, error) ? "" : " (it does not exist)"));
  }
}

void check_preload(const json& preload, std::vector<std::string>& problems) {
  if (preload.is_null()) return;
  if (!preload.is_array()) {
    problems.push_back(
        "options.preload must be a list of maps {model, task?, model_id?, device?, "
        "dtype?} (got " +
        shown(preload) + ")");
    return;
  }
  static const std::vector<std::string> keys = {"dtype",    "device", "model",
                                                "model_id", "path",   "task"};
  for (std::size_t i = 0; i < preload.size(); ++i) {
    const json& item = preload[i];
    const std::string where = "options.preload[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      problems.push_back(where + " must be a map {model, task?, model_id?, device?, dtype?}");
      continue;
    }
    for (const auto& member : item.items()) {
      if (!contains(keys, member.key())) {
        problems.push_back(where + "." + member.key() +
                           " is not a load_model argument (known: " + listed(keys) + ")");
      }
    }
    const auto model = item.contains("model") ? item.find("model") : item.find("path");
    if (model == item.end() || !model->is_string() || model->get<std::string>().empty()) {
      problems.push_back(where + ".model must be a model directory or name");
    }
    if (const auto task = item.find("task"); task != item.end() && !task->is_null()) {
      if (!task->is_string() || !contains(task_names(), task->get<std::string>())) {
        problems.push_back(where + ".task " + shown(*task) + " is not a task of the bridge (" +
                           listed(task_names()) + ")");
      }
    }
    if (const auto id = item.find("model_id"); id != item.end() && !id->is_null()) {
      if (!id->is_string() || id->get<std::string>().empty() ||
          id->get<std::string>().find(':') != std::string::npos) {
        problems.push_back(where + ".model_id must be a non-empty string without ':'");
      }
    }
    if (const auto device = item.find("device"); device != item.end()) {
      check_device(*device, where + ".device", problems);
    }
    if (const auto dtype = item.find("dtype"); dtype != item.end()) {
      check_dtype(*dtype, where + ".dtype", problems);
    }
  }
}

void check_environment(const json& bridge, std::vector<std::string>& problems) {
  const auto env = bridge.find("env");
  if (env == bridge.end() || !env->is_object()) return;
  const auto set = env->find("set");
  if (set == env->end() || !set->is_object()) return;
  const auto offline = set->find("HF_HUB_OFFLINE");
  if (offline != set->end() && !(offline->is_string() && *offline == "1")) {
    problems.push_back("env.set.HF_HUB_OFFLINE must be \"1\" (got " + shown(*offline) +
                       "): the Transformers bridge never downloads, it loads models from local "
                       "directories and the cache only");
  }
}

}  // namespace

const std::vector<std::string>& option_names() {
  static const std::vector<std::string> names = {
      "cache_dir",
      "default_max_new_tokens",
      "device",
      "dtype",
      "embed_batch_size",
      "max_batch",
      "max_model_memory_mb",
      "max_new_tokens_limit",
      "model_dirs",
      "num_threads",
      "preload",
  };
  return names;
}

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {
      "text-generation",
      "text-classification",
      "token-classification",
      "feature-extraction",
      "fill-mask",
      "zero-shot-classification",
      "sentiment-analysis",
      "ner",
      "embeddings",
      "summarization",
      "translation",
      "text2text-generation",
      "question-answering",
  };
  return names;
}

bool nvidia_gpu_present() {
  std::error_code error;
  return fs::exists("/dev/nvidia0", error) || fs::exists("/proc/driver/nvidia/gpus", error);
}

std::vector<std::string> check_bridge_config(const json& bridge) {
  if (!bridge.is_object()) return {"the bridge config must be a map"};
  std::vector<std::string> problems;
  check_environment(bridge, problems);
  const auto found = bridge.find("options");
  if (found == bridge.end() || found->is_null()) return problems;
  const json& options = *found;
  if (!options.is_object()) {
    problems.push_back("options must be a map (got " + shown(options) + ")");
    return problems;
  }

  const auto& known = option_names();
  for (const auto& item : options.items()) {
    if (!contains(known, item.key())) {
      problems.push_back("options." + item.key() +
                         " is not an option of the Transformers bridge (known: " + listed(known) +
                         "; a model to load at start goes in options.preload)");
    }
  }
  if (const auto dirs = options.find("model_dirs"); dirs != options.end() && !dirs->is_null()) {
    if (dirs->is_string()) {
      check_dir(*dirs, "options.model_dirs", bridge, problems);
    } else if (dirs->is_array()) {
      for (std::size_t i = 0; i < dirs->size(); ++i) {
        check_dir((*dirs)[i], "options.model_dirs[" + std::to_string(i) + "]", bridge, problems);
      }
    } else {
      problems.push_back("options.model_dirs must be a list of directories (got " + shown(*dirs) +
                         ")");
    }
  }
  if (const auto cache = options.find("cache_dir"); cache != options.end() && !cache->is_null()) {
    check_dir(*cache, "options.cache_dir", bridge, problems);
  }
  if (const auto device = options.find("device"); device != options.end()) {
    check_device(*device, "options.device", problems);
  }
  if (const auto dtype = options.find("dtype"); dtype != options.end()) {
    check_dtype(*dtype, "options.dtype", problems);
  }
  check_int(options, "num_threads", 1, 256, problems);
  check_int(options, "max_batch", 1, 10000, problems);
  check_int(options, "embed_batch_size", 1, 4096, problems);
  const auto limit = check_int(options, "max_new_tokens_limit", 1, 1 << 20, problems);
  check_int(options, "default_max_new_tokens", 1, limit.value_or(2048), problems);
  const auto budget = check_int(options, "max_model_memory_mb", 1, 1 << 24, problems);
  if (budget) {
    const auto limits = bridge.find("limits");
    if (limits != bridge.end() && limits->is_object()) {
      const auto rss = limits->find("max_memory_mb");
      if (rss != limits->end() && rss->is_number_integer() && *budget >= rss->get<long long>()) {
        problems.push_back("options.max_model_memory_mb (" + std::to_string(*budget) +
                           ") must be below limits.max_memory_mb (" + rss->dump() +
                           "): the worker holds torch and its buffers besides the weights, and is "
                           "replaced, models and all, once its memory passes the limit");
      }
    }
  }
  if (const auto preload = options.find("preload"); preload != options.end()) {
    check_preload(*preload, problems);
  }
  return problems;
}

}  // namespace mlbridge::transformers_plugin
