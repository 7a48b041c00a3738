#include "mlbridge/telemetry/log_output.hpp"

#include <atomic>
#include <mutex>

namespace mlbridge::telemetry {
namespace {

std::atomic<std::uint64_t> dropped_by_sink{0};
std::atomic<bool> sink_stalled{false};
std::mutex overruns_mutex;
std::function<std::uint64_t()> queue_overruns;  // guarded by overruns_mutex

}  // namespace

LogOutputStatus log_output_status() {
  LogOutputStatus status;
  status.dropped = dropped_by_sink.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(overruns_mutex);
    if (queue_overruns) status.dropped += queue_overruns();
  }
  status.stalled = sink_stalled.load(std::memory_order_relaxed);
  return status;
}

void record_log_dropped(std::uint64_t messages) {
  dropped_by_sink.fetch_add(messages, std::memory_order_relaxed);
}

void record_log_stalled(bool stalled) { sink_stalled.store(stalled, std::memory_order_relaxed); }

void set_log_queue_overruns(std::function<std::uint64_t()> overruns) {
  std::lock_guard lock(overruns_mutex);
  queue_overruns = std::move(overruns);
}

}  // namespace mlbridge::telemetry
