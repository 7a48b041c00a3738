#include "mlbridge/server/http_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "http_errors.hpp"
#include "memory_exchange.hpp"
#include "request_guard.hpp"
#include "router.hpp"
#include "routes.hpp"

namespace mlbridge::server {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr int kListenBacklog = 4096;
// Requests served from one serve_in_memory() input at most (keep-alive), as a bound on the work.
constexpr int kMaxInMemoryRequests = 16;
// How long stop() waits for requests in progress before it closes their connections anyway.
constexpr auto kStopWait = std::chrono::seconds(60);
// A pause before accepting again when the process is out of file descriptors.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

// The answer of a connection over --max-connections, written once without waiting.
const std::string& over_cap_answer() {
  static const std::string answer = [] {
    HttpResponse response;
    send_error(response, ErrorCategory::kOverloaded,
               "the server has as many connections open as it allows (--max-connections); "
               "try again later");
    return serialize_response(response, false);
  }();
  return answer;
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

// Connections are limited by file descriptors: the soft limit goes up to the hard one.
void raise_file_limit(std::size_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  spdlog::info(
      "open files: soft limit {} (was {}, hard limit {}); connections at most {} "
      "(--max-connections)",
      static_cast<unsigned long long>(limit.rlim_cur), static_cast<unsigned long long>(before),
      static_cast<unsigned long long>(limit.rlim_max), max_connections);
  if (limit.rlim_cur < max_connections) {
    spdlog::warn(
        "the open-file limit ({}) is below --max-connections ({}): past it new connections "
        "fail; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower --max-connections",
        static_cast<unsigned long long>(limit.rlim_cur), max_connections);
  }
}

ConnectionLimits limits_of(const ServerOptions& options) {
  ConnectionLimits limits;
  limits.reader.max_header_bytes = options.max_header_bytes;
  limits.reader.max_body_bytes = options.max_body_bytes;
  limits.idle_timeout = options.idle_timeout;
  limits.header_timeout = options.header_timeout;
  limits.body_timeout = options.body_timeout;
  limits.write_timeout = options.write_timeout;
  limits.max_stream_buffer_bytes = options.max_stream_buffer_bytes;
  return limits;
}

std::size_t io_threads(const ServerOptions& options) {
  if (options.threads > 0) return options.threads;
  return std::max(1u, std::thread::hardware_concurrency());
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
      : options(std::move(opts)),
        figures(host),
        context{host, options, std::chrono::steady_clock::now(), draining, figures},
        blocking(std::max<std::size_t>(1, options.blocking_threads)),
        router(guard, options.auth_token, blocking),
        core(limits_of(options), router, draining),
        ios(make_io_contexts(io_threads(options))),
        acceptor(asio::make_strand(*ios.front())) {
    if (auto address = parse_listen(options.listen)) set_guard(address->host, address->port);
    add_health_routes(router, context);
    add_bridge_routes(router, context);
    add_command_routes(router, context);
    add_session_routes(router, context);
    add_call_routes(router, context);
  }

  // The listener the guard compares Host with: as configured until start() bound the port.
  void set_guard(const std::string& host, int port) {
    guard.listen_host = host;
    guard.port = port;
    guard.allowed_hosts = options.allowed_hosts;
    guard.allowed_origins = options.allowed_origins;
  }

  Status bind(const Address& address) {
    boost::system::error_code ec;
    const auto ip =
        asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
    if (ec) {
      return fail(ErrorCategory::kInvalidArgument,
                  "listen address '" + options.listen + "' needs an IP address or localhost");
    }
    const tcp::endpoint endpoint(ip, static_cast<unsigned short>(address.port));
    acceptor.open(endpoint.protocol(), ec);
    // Only SO_REUSEADDR: SO_REUSEPORT would let a second server bind the same port and split
    // the connections with this one.
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(kListenBacklog, ec);
    if (ec) {
      boost::system::error_code ignored;
      acceptor.close(ignored);
      return fail(ErrorCategory::kBridgeUnavailable, "cannot listen on " + options.listen + " (" +
                                                         ec.message() +
                                                         "); choose another with --listen");
    }
    port = acceptor.local_endpoint().port();
    return Ok{};
  }

  static std::vector<std::unique_ptr<asio::io_context>> make_io_contexts(std::size_t count) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (std::size_t i = 0; i < count; ++i) {
      out.push_back(std::make_unique<asio::io_context>());
      // Its reactor (an epoll and a timer descriptor) now, not at its first connection: the
      // server's open descriptors are then the same before and after connections come and go.
      asio::steady_timer reactor_now(*out.back());
    }
    return out;
  }
  asio::io_context& next_io() { return *ios[next_io_index++ % ios.size()]; }

  void accept() {
    acceptor.async_accept(asio::make_strand(next_io()), [this](boost::system::error_code ec,
                                                               ConnectionSocket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        if (ec.value() == EMFILE || ec.value() == ENFILE) {
          if (!out_of_files_logged.exchange(true)) {
            spdlog::error(
                "out of file descriptors: new connections wait (raise the open-file limit or "
                "lower --max-connections)");
          }
          retry_timer.expires_after(kAcceptRetry);
          retry_timer.async_wait([this](boost::system::error_code e) {
            if (!e) accept();
          });
          return;
        }
        return accept();
      }
      out_of_files_logged = false;
      admit(std::move(socket));
      accept();
    });
  }

  void admit(ConnectionSocket socket) {
    if (core.open_connections.load() >= options.max_connections) {
      if (!cap_logged.exchange(true)) {
        spdlog::warn(
            "{} connections are open, the most this server allows (--max-connections): new "
            "connections are answered 503 until some close",
            options.max_connections);
      }
      boost::system::error_code ignored;
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(over_cap_answer()), ignored);
      socket.close(ignored);
      return;
    }
    if (core.open_connections.load() + 1 < options.max_connections) cap_logged = false;
    core.open_connections.fetch_add(1);
    const std::uint64_t id = next_connection++;
    auto connection = std::make_shared<Connection>(std::move(socket), core, id);
    core.add(id, connection);
    connection->start();
  }

  ServerOptions options;
  std::atomic<bool> draining{false};
  HostFiguresCache figures;
  RouteContext context;
  GuardSettings guard;  // written before serving starts, read-only afterwards
  asio::thread_pool blocking;
  Router router;
  ServerCore core;
  // One io_context per I/O thread, each connection on one of them (round robin): a connection's
  // handlers stay on one thread, so an answer never waits for another thread to wake up (with
  // one shared io_context, 4 threads on 2 cores tripled a no-op call's latency).
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::size_t next_io_index = 0;  // the acceptor's handlers only
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer{acceptor.get_executor()};
  std::vector<std::thread> threads;
  std::uint64_t next_connection = 1;  // the acceptor's handler only
  std::atomic<bool> cap_logged{false};
  std::atomic<bool> out_of_files_logged{false};
  int port = 0;
  bool started = false;
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
  raise_file_limit(impl_->options.max_connections);
  if (auto bound = impl_->bind(*address); !bound) return bound;
  impl_->figures.start();
  impl_->set_guard(address->host, impl_->port);
  impl_->accept();
  const std::size_t count = impl_->ios.size();
  for (auto& io : impl_->ios) {
    impl_->keep_running.push_back(asio::make_work_guard(*io));
    impl_->threads.emplace_back([&io] { io->run(); });
  }
  impl_->started = true;
  spdlog::info("HTTP server: {} I/O thread(s), {} blocking-work thread(s)", count,
               std::max<std::size_t>(1, impl_->options.blocking_threads));
  return Ok{};
}

int HttpServer::port() const { return impl_->port; }

std::string HttpServer::serve_in_memory(std::string_view raw_requests) {
  RequestReader reader(impl_->core.limits.reader);
  std::string input(raw_requests);
  std::string output;
  for (int served = 0; served < kMaxInMemoryRequests; ++served) {
    const auto state = reader.feed(input);
    if (state == RequestReader::State::kNeedMore) break;  // the input ends mid-request
    if (state == RequestReader::State::kRefused) {
      HttpResponse response;
      send_json(response,
                error_body(Error::make(ErrorCategory::kInvalidArgument, reader.refusal().message)),
                reader.refusal().status);
      output += serialize_response(response, false);
      break;
    }
    HttpRequest request = reader.take();
    const bool keep_alive = request.keep_alive;
    auto exchange = std::make_shared<MemoryExchange>(keep_alive);
    impl_->router.dispatch(std::move(request), exchange);
    output += exchange->wait();
    if (!keep_alive) break;
  }
  return output;
}

void HttpServer::begin_drain() {
  if (!impl_->draining.exchange(true)) spdlog::info("HTTP server: draining (/readyz answers 503)");
}

void HttpServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  begin_drain();
  if (impl_->started) {
    asio::post(impl_->acceptor.get_executor(), [this] {
      boost::system::error_code ignored;
      impl_->acceptor.close(ignored);
      impl_->retry_timer.cancel();
    });
    ServerCore& core = impl_->core;
    {
      std::unique_lock lock(core.mutex);
      core.changed.wait_for(lock, kStopWait, [&core] { return core.active_requests.load() == 0; });
    }
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard lock(core.mutex);
      for (auto& [id, weak] : core.connections) {
        if (auto connection = weak.lock()) open.push_back(std::move(connection));
      }
    }
    for (auto& connection : open) connection->close_now();
    open.clear();
    {
      std::unique_lock lock(core.mutex);
      core.changed.wait_for(lock, std::chrono::seconds(5),
                            [&core] { return core.open_connections.load() == 0; });
    }
    for (auto& io : impl_->ios) io->stop();
    for (auto& thread : impl_->threads) thread.join();
  }
  impl_->figures.stop();
  impl_->blocking.join();
}

}  // namespace mlbridge::server
