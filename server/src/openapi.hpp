#pragma once

// `GET /openapi.json`: the OpenAPI 3.1 document of the server. Every route of docs/http-api.md
// comes from one hand-declared table (http_routes()); each bridge adds one path per command it
// declared (`/v1/bridges/{bridge}/commands/{command}`, concrete names), with its description and,
// where the command declares them (`@command(schema=...)`), its args schema inside the request
// body and its result schema inside the 200 answer. Pure functions of their arguments; any
// thread.

#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/host_snapshot.hpp"

namespace mlbridge::server {

/// What the document says about the server itself.
struct OpenApiInfo {
  std::string title = "mlbridge";
  std::string version;       ///< The host's version (info.version).
  std::string server_url;    ///< e.g. "http://127.0.0.1:8787"; no `servers` entry when empty.
  bool bearer_auth = false;  ///< host.auth_token_env is set: routes but the health ones need it.
};

/// One route of docs/http-api.md.
struct RouteSpec {
  std::string_view method;  ///< Upper case: GET, POST, PUT, PATCH, DELETE.
  std::string_view path;    ///< OpenAPI template, e.g. "/v1/bridges/{name}".
  std::string_view summary;
  int status;            ///< The success status (200, 201, 202).
  bool json_body;        ///< Takes a JSON request body.
  bool open;             ///< Never needs the token (/healthz, /readyz).
  std::string_view tag;  ///< Group: health, bridges, commands, resources, sessions, calls.
};

/// Every route of the server, in the order docs/http-api.md lists them.
const std::vector<RouteSpec>& http_routes();

/// The OpenAPI 3.1 document: http_routes() plus each bridge's declared commands.
protocol::json build_openapi(const HostSnapshot& snapshot, const OpenApiInfo& info);

}  // namespace mlbridge::server
