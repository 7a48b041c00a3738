#pragma once

// Sets up the process's default spdlog logger (stderr) in text or JSON-lines format. Logging
// never blocks the host: the logger is asynchronous with a bounded queue (the oldest message goes
// when it is full) and its sink gives up on a stderr that nobody reads; what is lost is counted
// in telemetry::log_output_status(), which /readyz reports.

#include <string>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::cli {

/// `level`: trace|debug|info|warn|error|critical|off; `format`: text|json. JSON lines look like
/// {"time":"2026-11-23T10:00:00.123Z","level":"info","logger":"mlbridge","message":"..."}.
/// invalid_argument for an unknown level or format. Call once, from the main thread, before the
/// host logs anything that matters; it replaces the logger named "mlbridge" and the default one.
Status configure_logging(const std::string& level, const std::string& format);

}  // namespace mlbridge::cli
