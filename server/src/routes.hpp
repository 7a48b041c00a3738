#pragma once

// The route groups of the HTTP API, one file each. Private to the server library.

#include <atomic>
#include <chrono>

#include "host_figures.hpp"
#include "mlbridge/host.hpp"
#include "mlbridge/server/http_server.hpp"
#include "router.hpp"

namespace mlbridge::server {

/// What every route needs; owned by HttpServer::Impl, outlives every request.
struct RouteContext {
  Host& host;
  const ServerOptions& options;
  std::chrono::steady_clock::time_point started;
  /// True once HttpServer::begin_drain() or stop() ran: /readyz answers 503.
  const std::atomic<bool>& draining;
  /// The host's figures for /readyz and /metrics, read without waiting on the host's loop.
  HostFiguresCache& figures;
};

void add_health_routes(Router& router, RouteContext& context);
void add_bridge_routes(Router& router, RouteContext& context);
void add_command_routes(Router& router, RouteContext& context);
void add_session_routes(Router& router, RouteContext& context);
void add_call_routes(Router& router, RouteContext& context);

}  // namespace mlbridge::server
