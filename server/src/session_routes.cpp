// POST /v1/sessions ({"id"}, {"state"} optional), GET /v1/sessions (paged: ?limit=&after=),
// DELETE /v1/sessions/{id}, GET|PUT|PATCH /v1/sessions/{id}/state. Session ids are checked by the
// Host (session::check_session_id), so every route refuses a bad one with 400 invalid_argument.
// A request may also name its session in the X-Mlbridge-Session header (session_header.hpp): the
// same id as the path's (or the body's "id") is fine, another one is a 400 naming both.

#include "http_errors.hpp"
#include "routes.hpp"
#include "session_header.hpp"

namespace mlbridge::server {
namespace {

constexpr std::size_t kDefaultSessionPage = 100;

// The page GET /v1/sessions asks for: its query parameters as given (absent: nullopt), plain
// values so that the check does not depend on the HTTP library.
struct SessionPageQuery {
  std::size_t limit = kDefaultSessionPage;
  std::string after;
};

Result<SessionPageQuery> read_session_page_query(const std::optional<std::string>& limit,
                                                 const std::optional<std::string>& after) {
  SessionPageQuery query;
  if (limit) {
    const bool digits = !limit->empty() && limit->size() <= 6 &&
                        limit->find_first_not_of("0123456789") == std::string::npos;
    const std::size_t value = digits ? std::stoul(*limit) : 0;
    if (value < 1 || value > Host::kMaxSessionPage) {
      return fail(ErrorCategory::kInvalidArgument, "limit must be a whole number from 1 to " +
                                                       std::to_string(Host::kMaxSessionPage) +
                                                       " (sessions per page), got '" +
                                                       limit->substr(0, 20) + "'");
    }
    query.limit = value;
  }
  if (after) query.after = *after;
  return query;
}

std::optional<std::string> query_parameter(const HttpRequest& request, const char* name) {
  if (!request.has_param(name)) return std::nullopt;
  return request.get_param_value(name);
}

// The path's session id, unless the X-Mlbridge-Session header names another one.
Result<std::string> path_session(const HttpRequest& request) {
  auto id = session_of_request(request, request.matches[1], "the path");
  if (!id) return std::move(id).error();
  return std::move(**id);
}

json state_body(const std::string& id, const session::StateSnapshot& state) {
  return {{"id", id}, {"version", state.version}, {"state", state.data}};
}

// PUT: the body is the new state; PATCH: the body is a JSON merge patch (RFC 7386).
template <typename Apply>
void change_state(RouteContext& context, const HttpRequest& request, HttpResponse& response,
                  Apply apply) {
  auto body = parse_body(request);
  if (!body) return send_error(response, body.error());
  auto path_id = path_session(request);
  if (!path_id) return send_error(response, path_id.error());
  const std::string& id = *path_id;
  auto version = apply(id, std::move(*body));
  if (!version) return send_error(response, version.error());
  auto state = context.host.get_session_state(id);
  if (!state) return send_error(response, state.error());
  send_json(response, state_body(id, *state));
}

}  // namespace

void add_session_routes(Router& router, RouteContext& context) {
  router.add(
      "POST", "/v1/sessions", Runs::kOnBlockingPool,
      [&context](const HttpRequest& request, HttpResponse& response) {
        auto body = parse_body(request);
        if (!body) return send_error(response, body.error());
        for (const auto& [key, value] : body->items()) {
          if (key != "id" && key != "state") {
            return send_error(
                response, ErrorCategory::kInvalidArgument,
                "unknown field \"" + key + "\" (a session body has id and state, both optional)");
          }
        }
        std::optional<std::string> id;
        if (auto given = body->find("id"); given != body->end()) {
          if (!given->is_string()) {
            return send_error(response, ErrorCategory::kInvalidArgument,
                              "\"id\" must be a string (a session id, or left out for a new id)");
          }
          id = given->get<std::string>();
        }
        auto named = session_of_request(request, id, "the body's \"id\"");
        if (!named) return send_error(response, named.error());
        id = std::move(*named);
        json state = nullptr;
        if (auto given = body->find("state"); given != body->end()) {
          if (!given->is_object()) {
            return send_error(response, ErrorCategory::kInvalidArgument,
                              "\"state\" must be a JSON object (or left out)");
          }
          state = *given;
        }
        auto created = context.host.create_session(id, std::move(state));
        if (!created) return send_error(response, created.error());
        json answer = {{"id", *created}};
        if (body->contains("state")) {
          if (auto current = context.host.get_session_state(*created)) {
            answer["version"] = current->version;
            answer["state"] = current->data;
          }
        }
        send_json(response, answer, 201);
      });
  router.add("GET", "/v1/sessions", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               auto query = read_session_page_query(query_parameter(request, "limit"),
                                                    query_parameter(request, "after"));
               if (!query) return send_error(response, query.error());
               auto page = context.host.list_sessions_page(query->limit, query->after);
               if (!page) return send_error(response, page.error());
               json next = nullptr;
               if (page->after) next = *page->after;
               send_json(response, {{"sessions", page->ids}, {"next", next}});
             });
  router.add("DELETE", "/v1/sessions/{id}", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               auto path_id = path_session(request);
               if (!path_id) return send_error(response, path_id.error());
               const std::string& id = *path_id;
               auto ended = context.host.end_session(id);
               if (!ended) return send_error(response, ended.error());
               send_json(response, {{"ended", id}});
             });
  router.add("GET", "/v1/sessions/{id}/state", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               auto path_id = path_session(request);
               if (!path_id) return send_error(response, path_id.error());
               const std::string& id = *path_id;
               auto state = context.host.get_session_state(id);
               if (!state) return send_error(response, state.error());
               send_json(response, state_body(id, *state));
             });
  router.add("PUT", "/v1/sessions/{id}/state", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               change_state(context, request, response, [&](const std::string& id, json value) {
                 return context.host.set_session_state(id, std::move(value));
               });
             });
  router.add("PATCH", "/v1/sessions/{id}/state", Runs::kOnBlockingPool,
             [&context](const HttpRequest& request, HttpResponse& response) {
               change_state(context, request, response, [&](const std::string& id, json value) {
                 return context.host.update_session_state(id, value);
               });
             });
}

}  // namespace mlbridge::server
