// POST /v1/sessions ({"id"} optional), GET /v1/sessions, DELETE /v1/sessions/{id}.

#include "http_errors.hpp"
#include "routes.hpp"

namespace mlbridge::server {

void add_session_routes(httplib::Server& server, RouteContext& context) {
  server.Post(
      "/v1/sessions", [&context](const httplib::Request& request, httplib::Response& response) {
        auto body = parse_body(request);
        if (!body) return send_error(response, body.error());
        std::optional<std::string> id;
        if (auto given = body->find("id"); given != body->end()) {
          if (!given->is_string() || given->get_ref<const std::string&>().empty()) {
            return send_error(response, ErrorCategory::kInvalidArgument,
                              "\"id\" must be a non-empty string (or left out for a new id)");
          }
          id = given->get<std::string>();
        }
        auto created = context.host.create_session(id);
        if (!created) return send_error(response, created.error());
        send_json(response, {{"id", *created}}, 201);
      });
  server.Get("/v1/sessions", [&context](const httplib::Request&, httplib::Response& response) {
    send_json(response, {{"sessions", context.host.list_sessions()}});
  });
  server.Delete(R"(/v1/sessions/([^/]+))",
                [&context](const httplib::Request& request, httplib::Response& response) {
                  const std::string id = request.matches[1];
                  auto ended = context.host.end_session(id);
                  if (!ended) return send_error(response, ended.error());
                  send_json(response, {{"ended", id}});
                });
}

}  // namespace mlbridge::server
