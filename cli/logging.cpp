#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::cli {
namespace {

// %* in a pattern: the message as a JSON string (quoted and escaped).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string quoted = protocol::json(std::string(msg.payload.data(), msg.payload.size()))
                                   .dump(-1, ' ', false, protocol::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

Status configure_logging(const std::string& level, const std::string& format) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return fail(ErrorCategory::kInvalidArgument,
                "log level '" + level +
                    "' is not one of trace, debug, info, warn, error, "
                    "critical, off");
  }
  if (format != "text" && format != "json") {
    return fail(ErrorCategory::kInvalidArgument,
                "log format '" + format + "' is not one of text, json");
  }
  auto logger = spdlog::get("mlbridge");
  if (!logger) logger = spdlog::stderr_color_mt("mlbridge");
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","message":%*})");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return Ok{};
}

}  // namespace mlbridge::cli
