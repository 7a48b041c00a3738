#include "openapi.hpp"

#include <cctype>

#include "ascii_text.hpp"

namespace mlbridge::server {
namespace {

using json = protocol::json;

// The body of POST /v1/bridges/{name}/commands/{command}; `args` is replaced by a command's own
// args schema where it declares one.
json command_body(const json& args_schema) {
  json args = args_schema.is_null() ? json{{"type", json::array({"object", "null"})},
                                           {"description", "The command's arguments; default {}."}}
                                    : args_schema;
  return {{"type", "object"},
          {"additionalProperties", false},
          {"properties",
           {{"args", args},
            {"session",
             {{"type", "string"},
              {"pattern", "^[A-Za-z0-9._:-]{1,128}$"},
              {"description", "Run on the session's home worker, with its resources."}}},
            {"timeout_ms",
             {{"type", "integer"},
              {"minimum", 1},
              {"maximum", 604800000},
              {"description", "Deadline, queueing included; default the bridge's request_ms."}}},
            {"stream",
             {{"type", "boolean"}, {"description", "true: Server-Sent Events, one per chunk."}}},
            {"reply",
             {{"type", "boolean"},
              {"description", "false: fire and forget; 202 with the call id at once."}}}}}};
}

json error_schema() {
  return {{"type", "object"},
          {"required", json::array({"error"})},
          {"properties",
           {{"error",
             {{"type", "object"},
              {"required", json::array({"category", "message", "retryable"})},
              {"properties",
               {{"category", {{"type", "string"}}},
                {"message", {{"type", "string"}}},
                {"retryable", {{"type", "boolean"}}},
                {"bridge", {{"type", "string"}}},
                {"command", {{"type", "string"}}},
                {"type", {{"type", "string"}}}}}}}}}};
}

json json_content(const json& schema) { return {{"application/json", {{"schema", schema}}}}; }

// The {name} parts of a path template, as path parameters.
json path_parameters(std::string_view path) {
  json out = json::array();
  for (std::size_t open = path.find('{'); open != std::string_view::npos;
       open = path.find('{', open + 1)) {
    const std::size_t close = path.find('}', open);
    if (close == std::string_view::npos) break;
    out.push_back({{"name", std::string(path.substr(open + 1, close - open - 1))},
                   {"in", "path"},
                   {"required", true},
                   {"schema", {{"type", "string"}}}});
  }
  return out;
}

// "GET /v1/bridges/{name}" -> "get_v1_bridges_name": unique per route.
std::string operation_id(std::string_view method, std::string_view path) {
  std::string out = lower_ascii(method);
  for (char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += c;
    } else if (c == '/' || c == '.' || c == '-') {
      if (out.back() != '_') out += '_';
    }
  }
  while (out.back() == '_') out.pop_back();
  return out;
}

json operation(const RouteSpec& route, bool bearer_auth) {
  json responses = {
      {std::to_string(route.status),
       {{"description", "Success."}, {"content", json_content({{"type", "object"}})}}},
      {"default", {{"description", "An error."}, {"content", json_content(error_schema())}}}};
  if (route.path == "/metrics") {
    responses[std::to_string(route.status)]["content"] = {
        {"text/plain", {{"schema", {{"type", "string"}}}}}};
  }
  json op = {{"summary", std::string(route.summary)},
             {"operationId", operation_id(route.method, route.path)},
             {"tags", json::array({std::string(route.tag)})},
             {"responses", responses}};
  if (const json params = path_parameters(route.path); !params.empty()) op["parameters"] = params;
  if (route.json_body) {
    op["requestBody"] = {{"required", false}, {"content", json_content({{"type", "object"}})}};
  }
  if (route.path == "/v1/bridges/{name}/commands/{command}") {
    op["requestBody"]["content"] = json_content(command_body(nullptr));
  }
  if (route.open || !bearer_auth) op["security"] = json::array();
  return op;
}

json command_operation(const BridgeSnapshot& bridge, const CommandDescription& command,
                       bool bearer_auth) {
  json result = {{"type", "object"}, {"required", json::array({"result"})}};
  result["properties"]["result"] =
      command.result_schema.is_null() ? json::object() : command.result_schema;
  json op = {
      {"summary", command.description.empty() ? command.name : command.description},
      {"operationId", "run:" + bridge.name + ":" + command.name},
      {"tags", json::array({"bridge " + bridge.name})},
      {"requestBody",
       {{"required", false}, {"content", json_content(command_body(command.args_schema))}}},
      {"responses",
       {{"200", {{"description", "The command's result."}, {"content", json_content(result)}}},
        {"202",
         {{"description", "Fire and forget (\"reply\": false): the call id."},
          {"content", json_content({{"type", "object"},
                                    {"properties", {{"call_id", {{"type", "string"}}}}}})}}},
        {"default", {{"description", "An error."}, {"content", json_content(error_schema())}}}}}};
  if (!command.description.empty()) {
    op["description"] = command.description + " (command '" + command.name + "' of bridge '" +
                        bridge.name + "', framework '" + bridge.framework + "')";
  }
  if (!bearer_auth) op["security"] = json::array();
  return op;
}

}  // namespace

const std::vector<RouteSpec>& http_routes() {
  static const std::vector<RouteSpec> routes{
      {"GET", "/healthz", "Liveness; never needs a token.", 200, false, true, "health"},
      {"GET", "/readyz", "Readiness: every bridge has a ready worker (503 otherwise).", 200, false,
       true, "health"},
      {"GET", "/metrics", "Prometheus text format.", 200, false, false, "health"},
      {"GET", "/openapi.json", "This document.", 200, false, false, "health"},
      {"GET", "/v1/bridges", "Every bridge with its state, workers and counts.", 200, false, false,
       "bridges"},
      {"GET", "/v1/bridges/{name}", "One bridge, with its declared commands.", 200, false, false,
       "bridges"},
      {"POST", "/v1/bridges", "Register a bridge while the server runs (off by default).", 201,
       true, false, "bridges"},
      {"PATCH", "/v1/bridges/{name}", "Change a running bridge (off by default).", 200, true, false,
       "bridges"},
      {"DELETE", "/v1/bridges/{name}", "Drain a bridge, then remove it (off by default).", 200,
       false, false, "bridges"},
      {"POST", "/v1/bridges/{name}/restart", "Start a failed bridge again (off by default).", 200,
       false, false, "bridges"},
      {"POST", "/v1/bridges/{name}/commands/{command}",
       "Run a command: JSON, SSE stream, or fire and forget.", 200, true, false, "commands"},
      {"POST", "/v1/bridges/{name}/resources/{kind}/{verb}",
       "Run a command through the plugin's resource map.", 200, true, false, "resources"},
      {"GET", "/v1/calls/{id}",
       "Status and result of a fire-and-forget call (kept host.call_results.ttl_ms).", 200, false,
       false, "calls"},
      {"DELETE", "/v1/calls/{id}", "Cancel a call in flight by its id.", 200, false, false,
       "calls"},
      {"POST", "/v1/sessions", "Create a session.", 201, true, false, "sessions"},
      {"GET", "/v1/sessions", "List the sessions, a page at a time (?limit=&after=).", 200, false,
       false, "sessions"},
      {"DELETE", "/v1/sessions/{id}", "End a session everywhere.", 200, false, false, "sessions"},
      {"GET", "/v1/sessions/{id}/state", "A session's host-side state and its version.", 200, false,
       false, "sessions"},
      {"PUT", "/v1/sessions/{id}/state", "Replace a session's state.", 200, true, false,
       "sessions"},
      {"PATCH", "/v1/sessions/{id}/state", "Merge a JSON merge patch into a session's state.", 200,
       true, false, "sessions"},
  };
  return routes;
}

json build_openapi(const HostSnapshot& snapshot, const OpenApiInfo& info) {
  json paths = json::object();
  for (const auto& route : http_routes()) {
    paths[std::string(route.path)][lower_ascii(route.method)] = operation(route, info.bearer_auth);
  }
  for (const auto& bridge : snapshot.bridges) {
    for (const auto& command : bridge.commands) {
      const std::string path = "/v1/bridges/" + bridge.name + "/commands/" + command.name;
      paths[path]["post"] = command_operation(bridge, command, info.bearer_auth);
    }
  }
  json doc = {{"openapi", "3.1.0"},
              {"info",
               {{"title", info.title},
                {"version", info.version.empty() ? "unknown" : info.version},
                {"description",
                 "The HTTP API of an mlbridge host (docs/http-api.md), with one path per "
                 "command each bridge's workers declared."}}},
              {"paths", paths}};
  if (!info.server_url.empty()) doc["servers"] = json::array({{{"url", info.server_url}}});
  if (info.bearer_auth) {
    doc["components"]["securitySchemes"]["bearer"] = {{"type", "http"}, {"scheme", "bearer"}};
    doc["security"] = json::array({{{"bearer", json::array()}}});
  }
  return doc;
}

}  // namespace mlbridge::server
