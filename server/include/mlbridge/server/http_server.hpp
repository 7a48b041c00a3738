#pragma once

/// @file
/// The HTTP API of `mlbridge serve` (routes, status codes and error bodies of DESIGN.md) over a
/// running mlbridge::Host: bridges, commands (JSON or Server-Sent Events), sessions, resources,
/// health, readiness and Prometheus metrics, with bearer-token auth, a request size limit, and
/// the request guard (Host, Origin and Content-Type checks: server/src/request_guard.hpp).
///
/// Event-driven on Boost.Beast and Asio: a fixed number of I/O threads serve every connection (a
/// connection costs a socket and a timer, no thread); commands start through
/// Host::execute_async's callback form and answer when their call completes; Host calls that may
/// wait (registration, reload, sessions, listings) run on a small separate pool, so /healthz,
/// /readyz and /metrics always answer from the I/O threads.
///
/// Threading: start(), begin_drain() and stop() may be called from any thread (not from a
/// request handler); the Host is thread-safe.
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
  /// I/O threads serving every connection; 0 = the number of cores.
  std::size_t threads = 0;
  /// Threads for Host calls that may wait (registration, reload, sessions, listings).
  std::size_t blocking_threads = 4;
  /// Open connections at most; a connection over the cap is answered 503 and closed, with one
  /// log line each time the cap is reached. Connections are otherwise limited only by file
  /// descriptors: start() raises the soft RLIMIT_NOFILE to the hard limit.
  std::size_t max_connections = 20000;
  /// A request's line and headers together; larger gets 431.
  std::size_t max_header_bytes = 16 * 1024;
  /// Unsent bytes of one SSE stream; a client that lets more pile up has its call cancelled.
  std::size_t max_stream_buffer_bytes = 1024 * 1024;
  std::chrono::milliseconds idle_timeout{120'000};   ///< A kept-alive connection between requests.
  std::chrono::milliseconds header_timeout{10'000};  ///< A request's first byte to its last header.
  std::chrono::milliseconds body_timeout{
      60'000};  ///< The end of the headers to the end of the body.
  std::chrono::milliseconds write_timeout{30'000};  ///< One write of an answer to the client.
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
  /// /readyz answers 503 from now on and answers carry "Connection: close"; everything else is
  /// still served. Idempotent.
  void begin_drain();
  /// begin_drain(), stops accepting connections, lets requests in progress finish (their calls
  /// end within the host's own shutdown budget), closes every connection, joins the threads.
  /// Idempotent.
  void stop();

  /// Serves raw HTTP/1.1 request bytes from memory through the same request reader, checks and
  /// handlers as a socket connection (auth, routes, error bodies) and returns the raw response
  /// bytes: the requests read one after another while the connection stays open (16 at most).
  /// No socket; the fuzzer of tests/fuzz/ and tests use it. Any thread but an I/O thread;
  /// independent of start() and stop().
  std::string serve_in_memory(std::string_view raw_requests);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlbridge::server
