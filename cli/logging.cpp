#include "logging.hpp"

#include <poll.h>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>

#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/telemetry/log_output.hpp"

namespace mlbridge::cli {
namespace {

// Messages the asynchronous logger holds while its thread writes; past it the oldest go.
constexpr std::size_t kLogQueueMessages = 8192;
// How long the sink waits for its reader to take more before it calls the output stalled.
constexpr int kStallWaitMs = 200;
// Bytes that a pipe takes at once when it has room at all (PIPE_BUF): writes of at most this
// after poll() said "writable" do not block.
constexpr std::size_t kAtomicWrite = 4096;

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

// Writes to fd 2 but never waits long for it: when the reader of a pipe stops reading, a message
// waits at most kStallWaitMs, then the output counts as stalled and messages are dropped (and
// counted in telemetry::log_output_status) without waiting until the reader takes bytes again;
// the first message written after that says how many were lost. So neither the logger's thread
// nor the process's exit hangs on a stuck stderr.
class NonBlockingStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    if (!write_all(formatted.data(), formatted.size())) {
      ++dropped_while_stalled_;
      telemetry::record_log_dropped(1);
      return;
    }
    if (dropped_while_stalled_ > 0) {
      const std::string note = "mlbridge: " + std::to_string(dropped_while_stalled_) +
                               " log messages were dropped while stderr was not read\n";
      dropped_while_stalled_ = 0;
      (void)write_all(note.data(), note.size());
    }
  }
  void flush_() override {}

 private:
  bool wait_writable() {
    pollfd fd{STDERR_FILENO, POLLOUT, 0};
    for (;;) {
      const int ready = ::poll(&fd, 1, stalled_ ? 0 : kStallWaitMs);
      if (ready < 0 && errno == EINTR) continue;
      if (ready > 0 && (fd.revents & POLLOUT) != 0) return true;
      if (ready > 0) return false;  // POLLERR, POLLHUP: nobody will ever read it
      if (!stalled_) {
        stalled_ = true;
        telemetry::record_log_stalled(true);
      }
      return false;
    }
  }

  // Whole or not at all, as far as a stalled reader allows: a message cut by a stall mid-way
  // ends with a newline, so the next one starts on a line of its own.
  bool write_all(const char* data, std::size_t size) {
    std::size_t written = 0;
    while (written < size) {
      if (!wait_writable()) {
        if (written > 0) (void)::write(STDERR_FILENO, "\n", 1);
        return false;
      }
      const ssize_t n =
          ::write(STDERR_FILENO, data + written, std::min(kAtomicWrite, size - written));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      written += static_cast<std::size_t>(n);
      if (stalled_) {
        stalled_ = false;
        telemetry::record_log_stalled(false);
      }
    }
    return true;
  }

  bool stalled_ = false;
  std::uint64_t dropped_while_stalled_ = 0;
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
  // The host's threads (the event loop above all) only queue a message; one thread of the
  // logger's own writes them. A full queue drops its oldest message instead of blocking.
  spdlog::init_thread_pool(kLogQueueMessages, 1);
  auto pool = spdlog::thread_pool();
  telemetry::set_log_queue_overruns([weak = std::weak_ptr(pool)]() -> std::uint64_t {
    auto alive = weak.lock();
    return alive ? alive->overrun_counter() : 0;
  });
  spdlog::drop("mlbridge");
  auto logger =
      std::make_shared<spdlog::async_logger>("mlbridge", std::make_shared<NonBlockingStderrSink>(),
                                             pool, spdlog::async_overflow_policy::overrun_oldest);
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","message":%*})");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(parsed);
  spdlog::register_logger(logger);
  spdlog::set_default_logger(logger);
  return Ok{};
}

}  // namespace mlbridge::cli
