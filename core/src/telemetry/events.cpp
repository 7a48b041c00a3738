#include "mlbridge/telemetry/events.hpp"

#include <vector>

namespace mlbridge::telemetry {

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kWorkerStarted:
      return "worker_started";
    case EventKind::kWorkerStopped:
      return "worker_stopped";
    case EventKind::kWorkerCrashed:
      return "worker_crashed";
    case EventKind::kWorkerStartFailed:
      return "worker_start_failed";
    case EventKind::kCallStarted:
      return "call_started";
    case EventKind::kCallFinished:
      return "call_finished";
    case EventKind::kSessionCreated:
      return "session_created";
    case EventKind::kSessionEnded:
      return "session_ended";
  }
  return "unknown";
}

std::uint64_t EventBus::subscribe(Subscriber subscriber) {
  std::lock_guard lock(mutex_);
  const auto token = next_token_++;
  subscribers_.emplace(token, std::make_shared<Subscriber>(std::move(subscriber)));
  rebuild_snapshot();
  return token;
}

void EventBus::unsubscribe(std::uint64_t token) {
  std::lock_guard lock(mutex_);
  subscribers_.erase(token);
  rebuild_snapshot();
}

void EventBus::rebuild_snapshot() {
  auto next = std::make_shared<Snapshot>();
  for (const auto& [token, subscriber] : subscribers_) next->push_back(subscriber);
  snapshot_ = std::move(next);
}

bool EventBus::empty() const {
  std::lock_guard lock(mutex_);
  return subscribers_.empty();
}

void EventBus::publish(const Event& event) const {
  std::shared_ptr<const Snapshot> targets;
  {
    std::lock_guard lock(mutex_);
    if (snapshot_->empty()) return;
    targets = snapshot_;
  }
  // Called outside the lock so that a subscriber may unsubscribe itself.
  for (const auto& subscriber : *targets) (*subscriber)(event);
}

}  // namespace mlbridge::telemetry
