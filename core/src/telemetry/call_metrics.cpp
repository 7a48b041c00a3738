#include "mlbridge/telemetry/call_metrics.hpp"

namespace mlbridge::telemetry {

void CallMetrics::record(const Event& event) {
  if (event.kind == EventKind::kWorkerStarted) {
    std::lock_guard lock(mutex_);
    labels_.declare(event.framework, event.commands);
    return;
  }
  if (event.kind != EventKind::kCallFinished) return;
  std::lock_guard lock(mutex_);
  CommandMetrics& command = commands_[labels_.label(event.command)];
  if (event.error) {
    ++command.failed[*event.error];
  } else {
    ++command.ok;
  }
  command.queue_wait.record(event.queue_wait);
  // A call that never reached a worker (timed out or cancelled in the queue) has no execution.
  if (event.execution.count() > 0) command.execution.record(event.execution);
  command.total.record(event.queue_wait + event.execution);
}

std::map<std::string, CommandMetrics> CallMetrics::snapshot() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

}  // namespace mlbridge::telemetry
