#pragma once

// Sets up the process's default spdlog logger (stderr) in text or JSON-lines format.

#include <string>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::cli {

/// `level`: trace|debug|info|warn|error|critical|off; `format`: text|json. JSON lines look like
/// {"time":"2026-11-23T10:00:00.123Z","level":"info","logger":"mlbridge","message":"..."}.
/// invalid_argument for an unknown level or format.
Status configure_logging(const std::string& level, const std::string& format);

}  // namespace mlbridge::cli
