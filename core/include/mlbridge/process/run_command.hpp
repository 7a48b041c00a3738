#pragma once

/// @file
/// Runs a short-lived command to completion and collects its output, with a time limit. Blocks
/// the calling thread, so never call it on the event loop; any other thread may.

#include <chrono>
#include <string>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/process/exit_status.hpp"
#include "mlbridge/process/spawner.hpp"

namespace mlbridge::process {

struct CommandOutput {
  ExitStatus status;
  std::string out;
  std::string err;
};

/// Runs `spec` with empty stdin until it exits. Past `timeout` the process group is killed and
/// the result is a timeout error naming the command.
Result<CommandOutput> run_command(const ProcessSpec& spec, std::chrono::milliseconds timeout);

}  // namespace mlbridge::process
