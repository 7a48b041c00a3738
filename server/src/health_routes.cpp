// GET /healthz (liveness), GET /readyz (every bridge has a ready worker), GET /metrics.

#include "http_errors.hpp"
#include "prometheus.hpp"
#include "routes.hpp"

namespace mlbridge::server {

void add_health_routes(httplib::Server& server, RouteContext& context) {
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    send_json(response, {{"status", "ok"}});
  });
  server.Get("/readyz", [&context](const httplib::Request&, httplib::Response& response) {
    const json health = context.host.health();
    send_json(response, health, health["ready"].get<bool>() ? 200 : 503);
  });
  server.Get("/metrics", [&context](const httplib::Request&, httplib::Response& response) {
    response.set_content(render_metrics(context.host, context.started),
                         "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace mlbridge::server
