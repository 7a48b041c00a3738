#include "mlbridge/server/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstdint>
#include <thread>

#include "http_errors.hpp"
#include "memory_stream.hpp"
#include "request_guard.hpp"
#include "routes.hpp"

namespace mlbridge::server {
namespace {

constexpr int kListenBacklog = 1024;
// Requests one keep-alive connection may carry before the server closes it.
constexpr std::size_t kKeepAliveMaxRequests = 100000;
// Requests served from one serve_in_memory() input at most (keep-alive), as a bound on the work.
constexpr int kMaxInMemoryRequests = 16;

// httplib's Server with its request processing (protected) reachable for serve_in_memory().
class Server : public httplib::Server {
 public:
  // One request from `stream`; false when none could be read. `closed` becomes true when the
  // request asked for the connection to close.
  bool serve_one(httplib::Stream& stream, bool last, bool& closed) {
    return process_request(stream, last, closed, nullptr);
  }
};

// Compares without an early exit, so the time taken says nothing about where a guess went wrong.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (std::size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

struct Address {
  std::string host;
  int port = 0;
};

Result<Address> parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return fail(ErrorCategory::kInvalidArgument,
                "listen address '" + listen + "' must be HOST:PORT, e.g. 127.0.0.1:8787");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) {
    return fail(ErrorCategory::kInvalidArgument,
                "listen address '" + listen + "' has no valid port (0-65535)");
  }
  return Address{host, port};
}

Status check_exposure(const ServerOptions& options, const Address& address) {
  if (!options.auth_token.empty() || options.allow_unauthenticated_remote ||
      is_loopback_host(address.host)) {
    return Ok{};
  }
  return fail(ErrorCategory::kInvalidConfiguration,
              "refusing to listen on " + options.listen +
                  " without a bearer token: anyone who can reach that address could run "
                  "commands and register bridges. Set host.auth_token_env to a variable holding "
                  "a token, or listen on 127.0.0.1, or accept the risk with "
                  "host.allow_unauthenticated_remote: true (--allow-unauthenticated-remote)");
}

}  // namespace

Status check_listen_address(const ServerOptions& options) {
  auto address = parse_listen(options.listen);
  if (!address) return std::move(address).error();
  return check_exposure(options, *address);
}

Status check_runtime_registration(const ServerOptions& options, const config::HostConfig& host) {
  if (!host.runtime_registration.enabled || !options.auth_token.empty()) return Ok{};
  return fail(ErrorCategory::kInvalidConfiguration,
              "host.runtime_registration.enabled is true, but no bearer token is set: "
              "registering a bridge runs programs, so it always needs the token, on loopback "
              "too. Set host.auth_token_env to the name of a variable holding a token (and "
              "export it), or set host.runtime_registration.enabled: false");
}

struct HttpServer::Impl {
  Impl(Host& host, ServerOptions opts)
      : options(std::move(opts)), context{host, options, std::chrono::steady_clock::now()} {
    if (auto address = parse_listen(options.listen)) set_guard(address->host, address->port);
    configure();
  }

  void configure() {
    const std::size_t threads = options.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_payload_max_length(options.max_body_bytes);
    // Remember the listening socket: Debian's libcpp-httplib listens with a backlog of 5, which
    // drops connections when many clients arrive at once; start() raises it.
    // Only SO_REUSEADDR: httplib's default also sets SO_REUSEPORT, which would let a second
    // server bind the same port and split the connections with this one.
    server.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_socket = sock;
    });
    // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    // the client's delayed ACK add ~40 ms to every answer.
    server.set_tcp_nodelay(true);
    server.set_read_timeout(30);
    server.set_write_timeout(30);
    // cpp-httplib closes a keep-alive connection after 5 requests by default: under load every
    // client then reconnects every 5 calls, and clients reusing a connection the server just
    // closed fail (aiohttp's ServerDisconnectedError). Idle connections still close after the
    // keep-alive timeout (5 s).
    server.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server.set_pre_routing_handler([this](const httplib::Request& request,
                                          httplib::Response& response) {
      if (auto refused = guard_request(guard, facts_of(request))) {
        send_json(response, error_body(refused->error), refused->status);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (options.auth_token.empty() || request.path == "/healthz") {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      const std::string given = request.get_header_value("Authorization");
      if (constant_time_equal(given, "Bearer " + options.auth_token)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      response.set_header("WWW-Authenticate", "Bearer");
      send_json(
          response,
          error_body(Error::make(ErrorCategory::kAuthentication,
                                 given.empty() ? "this server needs 'Authorization: Bearer <token>'"
                                               : "the bearer token is not valid for this server")),
          401);
      return httplib::Server::HandlerResponse::Handled;
    });
    server.set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
      if (!response.body.empty()) return;
      if (response.status == 413) {
        send_json(response,
                  error_body(Error::make(ErrorCategory::kInvalidArgument,
                                         "the request body is larger than the server's limit of " +
                                             std::to_string(options.max_body_bytes) +
                                             " bytes (host.max_body_bytes)")),
                  413);
      } else if (response.status == 404) {
        send_json(response,
                  error_body(Error::make(ErrorCategory::kNotFound, "no route " + request.method +
                                                                       " " + request.path +
                                                                       " (see docs/http-api.md)")),
                  404);
      } else {
        send_json(response,
                  error_body(Error::make(ErrorCategory::kInvalidArgument,
                                         "the request could not be served (HTTP " +
                                             std::to_string(response.status) + ")")),
                  response.status);
      }
    });
    server.set_exception_handler(
        [](const httplib::Request& request, httplib::Response& response, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("{} {} failed: {}", request.method, request.path, what);
          send_json(response,
                    error_body(Error::make(ErrorCategory::kInternal,
                                           "the server failed on this request: " + what)),
                    500);
        });
    server.set_logger([](const httplib::Request& request, const httplib::Response& response) {
      spdlog::info("{} {} {}", request.method, request.path, response.status);
    });
    add_health_routes(server, context);
    add_bridge_routes(server, context);
    add_command_routes(server, context);
    add_session_routes(server, context);
  }

  // The request facts the guard reads (request_guard.hpp), from httplib's request.
  static RequestFacts facts_of(const httplib::Request& request) {
    const auto header = [&request](const char* name) -> std::optional<std::string_view> {
      if (!request.has_header(name)) return std::nullopt;
      const auto it = request.headers.find(name);
      return std::string_view(it->second);
    };
    RequestFacts facts;
    facts.method = request.method;
    facts.path = request.path;
    facts.host = header("Host");
    facts.origin = header("Origin");
    facts.content_type = header("Content-Type");
    facts.has_body = request.has_header("Transfer-Encoding") ||
                     request.get_header_value<std::uint64_t>("Content-Length") > 0;
    return facts;
  }

  // The listener the guard compares Host with: as configured until start() bound the port.
  void set_guard(const std::string& host, int port) {
    guard.listen_host = host;
    guard.port = port;
    guard.allowed_hosts = options.allowed_hosts;
    guard.allowed_origins = options.allowed_origins;
  }

  ServerOptions options;
  RouteContext context;
  GuardSettings guard;  // written before serving starts, read-only afterwards
  Server server;
  std::thread thread;
  int port = 0;
  socket_t listen_socket = -1;
  bool stopped = false;
};

HttpServer::HttpServer(Host& host, ServerOptions options)
    : impl_(std::make_unique<Impl>(host, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  auto address = parse_listen(impl_->options.listen);
  if (!address) return std::move(address).error();
  if (auto checked = check_listen_address(impl_->options); !checked) return checked;
  if (auto checked = check_runtime_registration(impl_->options, impl_->context.host.config());
      !checked) {
    return checked;
  }
  int port = address->port;
  if (port == 0) {
    port = impl_->server.bind_to_any_port(address->host);
  } else if (!impl_->server.bind_to_port(address->host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return fail(ErrorCategory::kBridgeUnavailable,
                "cannot listen on " + impl_->options.listen +
                    " (address in use or not allowed); choose another with --listen");
  }
  impl_->port = port;
  impl_->set_guard(address->host, port);
  // Linux lets listen() be called again on a listening socket to change its backlog.
  if (impl_->listen_socket >= 0) ::listen(impl_->listen_socket, kListenBacklog);
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  return Ok{};
}

int HttpServer::port() const { return impl_->port; }

std::string HttpServer::serve_in_memory(std::string_view raw_requests) {
  MemoryStream stream(raw_requests);
  bool closed = false;
  for (int served = 0; served < kMaxInMemoryRequests && !closed && !stream.exhausted(); ++served) {
    const bool last = served + 1 == kMaxInMemoryRequests;
    if (!impl_->server.serve_one(stream, last, closed)) break;
  }
  return stream.output();
}

void HttpServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace mlbridge::server
