#pragma once

/// @file
/// Telemetry events (worker started/stopped/crashed, call started/finished, session
/// created/ended) and the subscriber list that delivers them. Events are published on the event
/// loop thread; subscribers run there and must return quickly (copy what they need and hand it
/// off). Subscribing and unsubscribing are thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mlbridge/errors/error.hpp"

namespace mlbridge::telemetry {

enum class EventKind {
  kWorkerStarted,
  kWorkerStopped,  ///< Exited after the host asked it to (retired, drained).
  kWorkerCrashed,  ///< Exited on its own or was killed by the host for misbehaving.
  kWorkerStartFailed,
  kCallStarted,   ///< Handed to a worker.
  kCallFinished,  ///< Completed, successfully or not (see `error`).
  kSessionCreated,
  kSessionEnded,
};

std::string_view to_string(EventKind kind);

struct Event {
  EventKind kind;
  std::string bridge;
  std::string worker_id;                   ///< Empty when no worker is involved.
  std::string command;                     ///< Calls only.
  std::string session_id;                  ///< Calls and sessions; empty for anonymous calls.
  std::optional<ErrorCategory> error;      ///< kCallFinished with a failure.
  std::chrono::nanoseconds queue_wait{0};  ///< kCallStarted / kCallFinished.
  std::chrono::nanoseconds execution{0};   ///< kCallFinished.
  std::string detail;                      ///< Free text: exit reason, start error.
  std::string framework;                   ///< kWorkerStarted: the framework its hello named.
  std::vector<std::string> commands;       ///< kWorkerStarted: the commands its hello declared.
};

using Subscriber = std::function<void(const Event&)>;

/// A thread-safe list of subscribers.
class EventBus {
 public:
  /// Adds a subscriber; returns a token for unsubscribe().
  std::uint64_t subscribe(Subscriber subscriber);
  void unsubscribe(std::uint64_t token);
  /// Delivers `event` to every subscriber, in subscription order.
  void publish(const Event& event) const;
  bool empty() const;

 private:
  using Snapshot = std::vector<std::shared_ptr<Subscriber>>;

  mutable std::mutex mutex_;
  std::uint64_t next_token_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Subscriber>> subscribers_;
  // The subscribers in order, rebuilt on (un)subscribe, so that publish() (on every call) only
  // copies a pointer under the lock instead of the list.
  std::shared_ptr<const Snapshot> snapshot_ = std::make_shared<const Snapshot>();

  void rebuild_snapshot();  // with mutex_ held
};

}  // namespace mlbridge::telemetry
