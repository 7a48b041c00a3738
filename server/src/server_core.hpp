#pragma once

// What the listener and every connection share: the limits, the router, the counters the
// connection cap and stop() read, and the set of open connections stop() closes. Owned by
// HttpServer::Impl; outlives every connection's handlers (stop() joins the I/O threads first).
// Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "request_reader.hpp"
#include "router.hpp"

namespace mlbridge::server {

class Connection;

/// The timeouts and buffers of every connection (from ServerOptions).
struct ConnectionLimits {
  ReaderLimits reader;
  std::chrono::milliseconds idle_timeout{120'000};    ///< Between requests.
  std::chrono::milliseconds header_timeout{10'000};   ///< First byte to the end of the headers.
  std::chrono::milliseconds body_timeout{60'000};     ///< End of headers to the end of the body.
  std::chrono::milliseconds write_timeout{30'000};    ///< One write to the client.
  std::size_t max_stream_buffer_bytes = 1024 * 1024;  ///< Unsent SSE bytes before a stream ends.
};

struct ServerCore {
  ServerCore(ConnectionLimits limits, const Router& router, const std::atomic<bool>& draining)
      : limits(limits), router(router), draining(draining) {}

  const ConnectionLimits limits;
  const Router& router;
  const std::atomic<bool>& draining;

  std::atomic<std::size_t> open_connections{0};

  /// Requests read and not yet answered in full (stop() waits for none).
  void request_started() { active_requests.fetch_add(1); }
  void request_ended() {
    if (active_requests.fetch_sub(1) == 1) {
      std::lock_guard lock(mutex);
      changed.notify_all();
    }
  }
  /// The connection registry: every open connection, for stop().
  void add(std::uint64_t id, const std::shared_ptr<Connection>& connection) {
    std::lock_guard lock(mutex);
    connections.emplace(id, connection);
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex);
    connections.erase(id);
    open_connections.fetch_sub(1);
    changed.notify_all();
  }

  std::atomic<std::size_t> active_requests{0};
  std::mutex mutex;
  std::condition_variable changed;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
};

}  // namespace mlbridge::server
