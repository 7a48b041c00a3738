#pragma once

/// @file
/// The HTTP API of `mlbridge serve` (routes, status codes and error bodies of DESIGN.md) over a
/// running mlbridge::Host: bridges, commands (JSON or Server-Sent Events), sessions, resources,
/// health, readiness and Prometheus metrics, with bearer-token auth, a request size limit, and
/// the request guard (Host, Origin and Content-Type checks: server/src/request_guard.hpp).
///
/// Threading: start() and stop() may be called from any thread (not from a request handler);
/// requests run on the server's own thread pool and call the Host, which is thread-safe.
/// Ownership: the server borrows the Host, which must outlive it.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/host.hpp"

namespace mlbridge::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:8787";  ///< HOST:PORT; port 0 picks a free one.
  /// When non-empty, every route but /healthz requires "Authorization: Bearer <token>".
  /// Required when the host allows runtime registration (check_runtime_registration).
  std::string auth_token;
  std::size_t max_body_bytes = 8 * 1024 * 1024;  ///< Larger request bodies get 413.
  /// Browser origins whose mutating requests are served (host.allowed_origins); a POST, PUT,
  /// PATCH or DELETE with any other `Origin` header gets 403.
  std::vector<std::string> allowed_origins;
  /// `Host` values accepted besides the listen address and, on loopback, localhost, 127.0.0.1
  /// and [::1] with the port (host.allowed_hosts); any other gets 421 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  /// Without a token, start() refuses any address but loopback (127.0.0.0/8, ::1, localhost)
  /// unless this is true: anyone who reaches the port could run commands.
  bool allow_unauthenticated_remote = false;
  /// Connections served at once (each holds a thread while a request of it runs, and while it
  /// is kept alive between requests); more wait for a free thread.
  std::size_t threads = 256;
};

/// What start() checks before it binds: a well-formed HOST:PORT (invalid_argument), and a token
/// or a loopback address or allow_unauthenticated_remote (invalid_configuration, saying what to
/// do). `mlbridge serve` calls it before it starts any worker. Any thread.
Status check_listen_address(const ServerOptions& options);

/// What start() also checks: a host that allows runtime registration
/// (host.runtime_registration.enabled) is served only with a bearer token, loopback included,
/// since registering a bridge runs programs. invalid_configuration saying what to do.
/// `mlbridge serve` calls it before it starts any worker. Any thread.
Status check_runtime_registration(const ServerOptions& options, const config::HostConfig& host);

class HttpServer {
 public:
  HttpServer(Host& host, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds the listening socket and starts serving on a background thread. invalid_argument for
  /// a malformed address, invalid_configuration for a non-loopback address without a token
  /// (see allow_unauthenticated_remote) or for runtime registration without a token,
  /// bridge_unavailable when the address cannot be bound.
  Status start();
  /// The port actually bound (after start()).
  int port() const;
  /// Stops accepting connections, lets requests in progress finish, joins the threads.
  /// Idempotent.
  void stop();

  /// Serves raw HTTP/1.1 request bytes from memory through the same handlers as a socket
  /// connection (auth, routes, error bodies) and returns the raw response bytes: the requests
  /// read one after another while the connection stays open. No socket, no thread; the fuzzer of
  /// tests/fuzz/ and tests use it. Any thread; independent of start() and stop().
  std::string serve_in_memory(std::string_view raw_requests);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlbridge::server
