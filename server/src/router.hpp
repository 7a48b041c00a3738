#pragma once

// Routes requests to handlers, after the checks every request passes first: the request guard
// (Host, Origin, Content-Type: request_guard.hpp) and the bearer token (every route but /healthz;
// the scheme is case-insensitive). A handler says where it runs:
//
// - kOnIoThread: cheap and never waiting on anything slow (liveness, readiness, metrics, the
//   command routes, which only start a call through Host::execute_async's callback form).
// - kOnBlockingPool: Host calls that may wait (bridge registration, reload, sessions, listings);
//   the answer is handed back through the Exchange.
//
// Unknown routes get 404 naming the method and path, an exception in a handler 500.
// Built before serving starts; dispatch() is then called from any thread (I/O threads, and the
// caller of serve_in_memory) and never blocks.

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <string>
#include <vector>

#include "exchange.hpp"
#include "http_message.hpp"
#include "request_guard.hpp"
#include "route_pattern.hpp"

namespace mlbridge::server {

enum class Runs { kOnIoThread, kOnBlockingPool };

using Handler = std::function<void(const HttpRequest&, HttpResponse&)>;
/// Answers through the exchange, now or later, from any thread.
using AsyncHandler = std::function<void(HttpRequest&&, const ExchangePtr&)>;

class Router {
 public:
  /// Borrows the guard settings (completed by HttpServer::start before serving), the token and
  /// the pool, which outlive the router.
  Router(const GuardSettings& guard, const std::string& auth_token,
         boost::asio::thread_pool& blocking);

  /// `pattern` ("/v1/bridges/{name}", route_pattern.hpp) matches the whole raw (not
  /// percent-decoded) path; its "{...}" segments become request.matches[1..], percent-decoded.
  void add(std::string method, const std::string& pattern, Runs runs, Handler handler);
  void add_async(std::string method, const std::string& pattern, AsyncHandler handler);

  /// Checks, routes and answers `request` through `exchange`. Any thread; never blocks.
  void dispatch(HttpRequest&& request, const ExchangePtr& exchange) const;

 private:
  struct Route {
    std::string method;
    RoutePattern pattern;
    Runs runs = Runs::kOnIoThread;
    Handler handler;     // when not async
    AsyncHandler async;  // when set
  };

  std::optional<HttpResponse> refuse_unauthorized(const HttpRequest& request) const;
  void run(const Route& route, HttpRequest&& request, const ExchangePtr& exchange) const;

  const GuardSettings& guard_;
  const std::string& auth_token_;
  boost::asio::thread_pool& blocking_;
  std::vector<Route> routes_;
};

}  // namespace mlbridge::server
