// GET /healthz (liveness), GET /readyz (every bridge has a ready worker, and the server is not
// draining), GET /metrics. None of them waits on the host's event loop: /healthz needs nothing,
// /readyz and /metrics read the host's figures through HostFiguresCache (fresh ones when the
// loop gives them within a moment, else the latest), so all three answer whatever the load.
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
namespace {

using namespace std::chrono_literals;

// How long a probe waits for figures taken after it arrived before it answers with the latest
// ones. Readiness answers within a load balancer's probe timeout whatever the host's loop does;
// metrics, which a client may read right after a call to see it counted, wait longer.
constexpr auto kReadinessFreshWait = 100ms;
constexpr auto kMetricsFreshWait = 1000ms;

HttpResponse readiness_answer(RouteContext& context, const HostFigures& figures) {
  json health = figures.health;
  const auto log = telemetry::log_output_status();
  health["log"] = {{"dropped", log.dropped}, {"stalled", log.stalled}};
  // A load balancer stops sending new requests while the server drains.
  if (context.draining.load()) {
    health["ready"] = false;
    health["draining"] = true;
  }
  HttpResponse response;
  send_json(response, health, health["ready"].get<bool>() ? 200 : 503);
  return response;
}

HttpResponse metrics_answer(RouteContext& context, const HostFigures& figures) {
  HttpResponse response;
  response.set_content(
      render_metrics(figures.snapshot, std::chrono::steady_clock::now() - context.started),
      "text/plain; version=0.0.4; charset=utf-8");
  return response;
}

// Answers with figures taken after the request arrived, or, when the host's loop is too busy to
// give them within `wait`, with the latest ones: the exchange takes whichever answer comes first.
template <typename Render>
void answer_with_figures(RouteContext& context, const ExchangePtr& exchange,
                         std::chrono::milliseconds wait, Render render) {
  context.figures.when_fresh([&context, exchange, render](HostFiguresPtr figures) {
    exchange->reply(render(context, *figures));
  });
  exchange->after(wait, [&context, exchange, render] {
    exchange->reply(render(context, *context.figures.latest()));
  });
}

}  // namespace

void add_health_routes(Router& router, RouteContext& context) {
  router.add("GET", "/healthz", Runs::kOnIoThread, [](const HttpRequest&, HttpResponse& response) {
    send_json(response, {{"status", "ok"}});
  });
  router.add_async("GET", "/readyz", [&context](HttpRequest&&, const ExchangePtr& exchange) {
    answer_with_figures(context, exchange, kReadinessFreshWait, readiness_answer);
  });
  router.add_async("GET", "/metrics", [&context](HttpRequest&&, const ExchangePtr& exchange) {
    answer_with_figures(context, exchange, kMetricsFreshWait, metrics_answer);
  });
}

}  // namespace mlbridge::server
