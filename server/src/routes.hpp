#pragma once

// The route groups of the HTTP API, one file each. Private to the server library.

#include <httplib.h>

#include <chrono>

#include "mlbridge/host.hpp"
#include "mlbridge/server/http_server.hpp"

namespace mlbridge::server {

/// What every route needs; owned by HttpServer::Impl, outlives every request.
struct RouteContext {
  Host& host;
  const ServerOptions& options;
  std::chrono::steady_clock::time_point started;
};

void add_health_routes(httplib::Server& server, RouteContext& context);
void add_bridge_routes(httplib::Server& server, RouteContext& context);
void add_command_routes(httplib::Server& server, RouteContext& context);
void add_session_routes(httplib::Server& server, RouteContext& context);

}  // namespace mlbridge::server
