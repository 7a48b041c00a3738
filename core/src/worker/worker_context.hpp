#pragma once

// What the parts of one worker (child process, channel, call table) share: its configuration,
// the prefix of its log lines and errors, its secrets to redact, and a way to keep the Worker
// alive while an asynchronous operation of a part is pending. Loop-thread only.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/telemetry/redactor.hpp"
#include "mlbridge/worker/worker_config.hpp"

namespace mlbridge::worker::detail {

struct WorkerContext {
  WorkerContext(const WorkerConfig& config, std::function<std::shared_ptr<void>()> keep_alive)
      : config(config),
        redactor(telemetry::Redactor::for_environment(config.env)),
        keep_alive(std::move(keep_alive)) {}

  /// "bridge 'B': worker W", the start of every message about this worker.
  std::string prefix() const {
    return "bridge '" + config.bridge + "': worker " + config.worker_id;
  }

  /// An error tagged with this worker (and the command, when it concerns a call).
  Error make_error(ErrorCategory category, std::string message,
                   const std::string& command = {}) const {
    Error error = Error::make(category, std::move(message));
    error.bridge = config.bridge;
    error.command = command;
    error.worker_id = config.worker_id;
    return error;
  }

  const WorkerConfig& config;  // the Worker's, which outlives its parts
  /// The worker's secrets (env values), blanked out of its stderr, log frames and errors.
  const telemetry::Redactor redactor;
  /// Held by every pending asynchronous operation of a part: the Worker stays alive until it ran.
  const std::function<std::shared_ptr<void>()> keep_alive;
};

inline std::string ms_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

}  // namespace mlbridge::worker::detail
