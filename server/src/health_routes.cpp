// GET /healthz (liveness), GET /readyz (every bridge has a ready worker), GET /metrics.
//
// /readyz also reports the log output ("log": {"dropped", "stalled"}), without letting it decide
// readiness: the log never blocks the host (cli/logging.cpp), so a stderr that nobody reads costs
// log lines, not calls, and a load balancer that took such a host out would lose a host that
// serves. The operator learns of it here and from the count of dropped messages.

#include "http_errors.hpp"
#include "mlbridge/telemetry/log_output.hpp"
#include "prometheus.hpp"
#include "routes.hpp"

namespace mlbridge::server {

void add_health_routes(httplib::Server& server, RouteContext& context) {
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    send_json(response, {{"status", "ok"}});
  });
  server.Get("/readyz", [&context](const httplib::Request&, httplib::Response& response) {
    json health = context.host.health();
    const auto log = telemetry::log_output_status();
    health["log"] = {{"dropped", log.dropped}, {"stalled", log.stalled}};
    send_json(response, health, health["ready"].get<bool>() ? 200 : 503);
  });
  server.Get("/metrics", [&context](const httplib::Request&, httplib::Response& response) {
    response.set_content(render_metrics(context.host, context.started),
                         "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace mlbridge::server
