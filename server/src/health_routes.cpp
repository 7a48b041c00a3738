// GET /healthz (liveness), GET /readyz (every bridge has a ready worker, and the server is not
// draining), GET /metrics. All three answer on the I/O threads, whatever the load.
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

void add_health_routes(Router& router, RouteContext& context) {
  router.add("GET", "/healthz", Runs::kOnIoThread, [](const HttpRequest&, HttpResponse& response) {
    send_json(response, {{"status", "ok"}});
  });
  router.add("GET", "/readyz", Runs::kOnIoThread,
             [&context](const HttpRequest&, HttpResponse& response) {
               json health = context.host.health();
               const auto log = telemetry::log_output_status();
               health["log"] = {{"dropped", log.dropped}, {"stalled", log.stalled}};
               // A load balancer stops sending new requests while the server drains.
               if (context.draining.load()) {
                 health["ready"] = false;
                 health["draining"] = true;
               }
               send_json(response, health, health["ready"].get<bool>() ? 200 : 503);
             });
  router.add("GET", "/metrics", Runs::kOnIoThread,
             [&context](const HttpRequest&, HttpResponse& response) {
               response.set_content(render_metrics(context.host, context.started),
                                    "text/plain; version=0.0.4; charset=utf-8");
             });
}

}  // namespace mlbridge::server
