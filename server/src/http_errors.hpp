#pragma once

// Error answers of the HTTP API: a status per category and the JSON body
// {"error": {"category", "message", "bridge", "command", "type", "retryable"}}.

#include <optional>
#include <string>
#include <string_view>

#include "http_message.hpp"
#include "mlbridge/errors/error.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::server {

using json = protocol::json;

/// 400 invalid_argument/invalid_configuration, 401 unauthorized, 404 not_found,
/// 410 session_lost, 429 rate_limit, 502 model_error/authentication/worker_crashed,
/// 503 overloaded/bridge_unavailable, 504 timeout, 499 cancelled, 500 otherwise.
int http_status(ErrorCategory category);

/// The error body (never the traceback: it stays in the server's log).
json error_body(const Error& error);

/// Sets status, body and (for 503) Retry-After on `response`.
void send_error(HttpResponse& response, const Error& error);
/// The same for an error the HTTP layer finds itself.
void send_error(HttpResponse& response, ErrorCategory category, std::string message);

/// Sends `body` as JSON with `status`.
void send_json(HttpResponse& response, const json& body, int status = 200);

/// A request body as a JSON object; an empty body reads as {}. invalid_argument naming the
/// problem (position of a syntax error, a number out of range such as 1e400, invalid UTF-8,
/// nesting deeper than protocol::kMaxNesting, or the type found instead of an object). The one
/// place request bodies are parsed.
Result<json> parse_json_object(std::string_view body);
/// parse_json_object of the request's body.
Result<json> parse_body(const HttpRequest& request);

}  // namespace mlbridge::server
