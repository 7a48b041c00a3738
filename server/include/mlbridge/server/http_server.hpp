#pragma once

/// @file
/// The HTTP API of `mlbridge serve` (routes, status codes and error bodies of DESIGN.md) over a
/// running mlbridge::Host: bridges, commands (JSON or Server-Sent Events), sessions, resources,
/// health, readiness and Prometheus metrics, with bearer-token auth and a request size limit.
///
/// Threading: start() and stop() may be called from any thread (not from a request handler);
/// requests run on the server's own thread pool and call the Host, which is thread-safe.
/// Ownership: the server borrows the Host, which must outlive it.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/host.hpp"

namespace mlbridge::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:8787";  ///< HOST:PORT; port 0 picks a free one.
  /// When non-empty, every route but /healthz requires "Authorization: Bearer <token>".
  std::string auth_token;
  std::size_t max_body_bytes = 8 * 1024 * 1024;  ///< Larger request bodies get 413.
  bool allow_runtime_registration = true;        ///< POST/DELETE /v1/bridges.
  std::size_t threads = 64;                      ///< Requests served at once.
};

class HttpServer {
 public:
  HttpServer(Host& host, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds the listening socket and starts serving on a background thread. invalid_argument for
  /// a malformed address, bridge_unavailable when the address cannot be bound (in use, denied).
  Status start();
  /// The port actually bound (after start()).
  int port() const;
  /// Stops accepting connections, lets requests in progress finish, joins the threads.
  /// Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlbridge::server
