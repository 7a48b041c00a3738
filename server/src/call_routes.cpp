// GET /v1/calls/{id}: the state, then the result or error, of a call started with
// "reply": false (kept host.call_results.ttl_ms after it ended). DELETE /v1/calls/{id}: cancels
// any call in flight by the id its answer named (X-Mlbridge-Call-Id). GET /openapi.json: the
// OpenAPI 3.1 document of every route and of each bridge's commands (openapi.hpp).

#include "http_errors.hpp"
#include "mlbridge/calls/call_records.hpp"
#include "openapi.hpp"
#include "routes.hpp"

namespace mlbridge::server {

void add_call_routes(Router& router, RouteContext& context) {
  // A lookup in a bounded table under a mutex: cheap enough for the I/O threads.
  router.add("GET", "/v1/calls/{id}", Runs::kOnIoThread,
             [&context](const HttpRequest& request, HttpResponse& response) {
               auto record = context.host.call_record(request.matches[1]);
               if (!record) return send_error(response, record.error());
               send_json(response, calls::to_json(*record));
             });
  router.add("DELETE", "/v1/calls/{id}", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               const std::string id = request.matches[1];
               if (auto cancelled = context.host.cancel_call(id); !cancelled) {
                 return send_error(response, cancelled.error());
               }
               send_json(response, {{"cancelled", id}});
             });
  // Reads every pool and may ask a worker of each bridge for its commands: off the I/O threads.
  router.add("GET", "/openapi.json", Runs::kOnBlockingPool,
             [&context](const HttpRequest&, HttpResponse& response) {
               OpenApiInfo info;
               info.version = MLBRIDGE_VERSION;
               info.bearer_auth = !context.options.auth_token.empty();
               send_json(response, build_openapi(context.host.snapshot(true), info));
             });
}

}  // namespace mlbridge::server
