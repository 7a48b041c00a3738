#pragma once

// The host's figures for /readyz and /metrics, taken off the I/O threads. Host::health() and
// Host::snapshot() read every pool on the host's event loop (run_sync): while that loop is busy
// (a large frame to decode, thousands of calls to dispatch) they wait, and an I/O thread that
// called them would stop serving every connection it holds. Here one refresher thread takes the
// figures: once a second, and at once when a request wants fresh ones. A route asks for figures
// taken after its request arrived (when_fresh) and, if they are not there within a moment (the
// loop is busy; health_routes.cpp says how long), answers from the latest ones instead
// (latest()): either way no I/O thread waits for the loop. Owned by HttpServer::Impl; every member
// is thread-safe.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "mlbridge/host.hpp"
#include "mlbridge/host_snapshot.hpp"

namespace mlbridge::server {

/// One reading of the host: Host::health() and Host::snapshot() (without commands).
struct HostFigures {
  protocol::json health;
  HostSnapshot snapshot;
  std::chrono::steady_clock::time_point taken;
};
using HostFiguresPtr = std::shared_ptr<const HostFigures>;

class HostFiguresCache {
 public:
  /// How often the figures are taken when nobody asks.
  static constexpr std::chrono::milliseconds kRefreshEvery{1000};

  /// Borrows `host`, which outlives the cache. Takes nothing yet.
  explicit HostFiguresCache(Host& host) : host_(host) {}
  ~HostFiguresCache() { stop(); }
  HostFiguresCache(const HostFiguresCache&) = delete;
  HostFiguresCache& operator=(const HostFiguresCache&) = delete;

  /// Takes the first figures (on the calling thread), then starts the refresher thread.
  void start();
  /// Stops and joins the refresher; pending when_fresh callbacks get the latest figures.
  /// Idempotent.
  void stop();

  /// The latest figures; taken now, on the calling thread, when there are none yet (before
  /// start(): HttpServer::serve_in_memory).
  HostFiguresPtr latest();
  /// `use` runs once with figures taken after this call: on the refresher thread, or at once on
  /// the calling thread when the refresher is not running (serve_in_memory's callers).
  void when_fresh(std::function<void(HostFiguresPtr)> use);

 private:
  HostFiguresPtr take() const;
  void run();

  Host& host_;
  std::mutex mutex_;
  std::condition_variable wake_;
  HostFiguresPtr latest_;
  std::vector<std::function<void(HostFiguresPtr)>> waiting_;
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mlbridge::server
