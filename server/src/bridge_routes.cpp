// GET /v1/bridges, GET /v1/bridges/{name}, POST /v1/bridges ({"name", "config"}: the YAML keys as
// JSON), PATCH /v1/bridges/{name} (the YAML keys to change), DELETE /v1/bridges/{name} (drain,
// then remove), POST /v1/bridges/{name}/restart. The four changes obey the host's registration
// policy (host.runtime_registration; refusals are 403).

#include "http_errors.hpp"
#include "mlbridge/config/bridge_config.hpp"
#include "mlbridge/registry/registry.hpp"
#include "routes.hpp"

namespace mlbridge::server {
namespace {

// A refusal of the operator's registration policy (host.runtime_registration) is a 403: the
// request is well-formed, but this host does not allow it.
bool refused_by_policy(const Status& allowed, HttpResponse& response) {
  if (allowed) return false;
  send_json(response, error_body(allowed.error()), 403);
  return true;
}

const registry::RegistrationPolicy& policy(const RouteContext& context) {
  return context.host.registry().policy();
}

}  // namespace

void add_bridge_routes(Router& router, RouteContext& context) {
  router.add("GET", "/v1/bridges", Runs::kOnBlockingPool,
             [&context](const HttpRequest&, HttpResponse& response) {
               send_json(response, {{"bridges", context.host.bridges()}});
             });
  router.add("GET", "/v1/bridges/{name}", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               auto bridge = context.host.bridge(request.matches[1]);
               if (!bridge) return send_error(response, bridge.error());
               send_json(response, *bridge);
             });
  router.add(
      "POST", "/v1/bridges", Runs::kOnBlockingPool,
      [&context](const HttpRequest& request, HttpResponse& response) {
        auto body = parse_body(request);
        if (!body) return send_error(response, body.error());
        const auto name = body->find("name");
        if (name == body->end() || !name->is_string()) {
          return send_error(response, ErrorCategory::kInvalidArgument,
                            "the body needs \"name\" (a string) and \"config\" (the bridge's YAML "
                            "keys as a JSON object)");
        }
        const auto config = body->find("config");
        if (config == body->end() || !config->is_object()) {
          return send_error(response, ErrorCategory::kInvalidArgument,
                            "\"config\" must be a JSON object with the bridge's YAML keys");
        }
        // The host checks the policy again; these checks only tell a refusal (403) from a bad
        // configuration (400). Nothing is loaded or run before them.
        if (refused_by_policy(policy(context).allow_change("register", name->get<std::string>()),
                              response))
          return;
        auto parsed = config::parse_bridge_config(name->get<std::string>(), *config);
        if (!parsed) return send_error(response, parsed.error());
        if (refused_by_policy(policy(context).check_bridge(*parsed), response)) return;
        auto registered = context.host.register_bridge(name->get<std::string>(), *config);
        if (!registered) return send_error(response, registered.error());
        auto described = context.host.bridge(name->get<std::string>());
        send_json(response, described ? *described : json{{"name", *name}}, 201);
      });
  // An operator's "try again" for a bridge whose workers kept failing to start: it starts
  // programs, so it is a runtime change like the others.
  router.add("POST", "/v1/bridges/{name}/restart", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               const std::string name = request.matches[1];
               if (refused_by_policy(policy(context).allow_change("restart", name), response)) {
                 return;
               }
               if (auto restarted = context.host.restart_bridge(name); !restarted) {
                 return send_error(response, restarted.error());
               }
               auto described = context.host.bridge(name);
               send_json(response, described ? *described : json{{"name", name}});
             });
  router.add("PATCH", "/v1/bridges/{name}", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               const std::string name = request.matches[1];
               if (refused_by_policy(policy(context).allow_change("change", name), response)) {
                 return;
               }
               auto body = parse_body(request);
               if (!body) return send_error(response, body.error());
               if (!body->is_object()) {
                 return send_error(response, ErrorCategory::kInvalidArgument,
                                   "the body must be a JSON object of the bridge's YAML keys, "
                                   "e.g. {\"pool\": {\"size\": 4}}");
               }
               auto changes = context.host.update_bridge(name, *body);
               if (!changes) return send_error(response, changes.error());
               auto described = context.host.bridge(name);
               json out = described ? *described : json{{"name", name}};
               out["changes"] = *changes;
               send_json(response, out);
             });
  router.add("DELETE", "/v1/bridges/{name}", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               const std::string name = request.matches[1];
               if (refused_by_policy(policy(context).allow_change("remove", name), response)) {
                 return;
               }
               auto removed = context.host.unregister_bridge(name);
               if (!removed) return send_error(response, removed.error());
               send_json(response, {{"removed", name}});
             });
}

}  // namespace mlbridge::server
