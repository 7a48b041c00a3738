#include "http_errors.hpp"

#include <algorithm>
#include <string>

#include "mlbridge/protocol/nesting.hpp"

namespace mlbridge::server {

int http_status(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kInvalidArgument:
    case ErrorCategory::kInvalidConfiguration:
      return 400;
    case ErrorCategory::kNotFound:
      return 404;
    case ErrorCategory::kSessionLost:
      return 410;
    case ErrorCategory::kSessionMoved:
      return 409;
    case ErrorCategory::kRateLimit:
      return 429;
    case ErrorCategory::kModelError:
    case ErrorCategory::kAuthentication:
    case ErrorCategory::kWorkerCrashed:
      return 502;
    case ErrorCategory::kOverloaded:
    case ErrorCategory::kBridgeUnavailable:
      return 503;
    case ErrorCategory::kTimeout:
      return 504;
    case ErrorCategory::kCancelled:
      return 499;
    default:
      return 500;
  }
}

json error_body(const Error& error) {
  json body = {{"category", std::string(to_string(error.category))},
               {"message", error.message},
               {"retryable", error.retryable}};
  if (!error.bridge.empty()) body["bridge"] = error.bridge;
  if (!error.command.empty()) body["command"] = error.command;
  if (!error.python_type.empty()) body["type"] = error.python_type;
  return {{"error", body}};
}

void send_json(HttpResponse& response, const json& body, int status) {
  response.status = status;
  response.set_content(
      protocol::to_plain_json(body).dump(-1, ' ', false, json::error_handler_t::replace),
      "application/json");
}

void send_error(HttpResponse& response, const Error& error) {
  const int status = http_status(error.category);
  if (status == 503) response.set_header("Retry-After", "1");
  if (error.category == ErrorCategory::kSessionMoved) {  // the other host's lease, at least 1 s
    const auto ms = error.retry_after.value_or(std::chrono::milliseconds(1000)).count();
    response.set_header("Retry-After", std::to_string(std::max<long long>(1, (ms + 999) / 1000)));
  }
  send_json(response, error_body(error), status);
}

void send_error(HttpResponse& response, ErrorCategory category, std::string message) {
  send_error(response, Error::make(category, std::move(message)));
}

Result<json> parse_body(const HttpRequest& request) { return parse_json_object(request.body); }

Result<json> parse_json_object(std::string_view text) {
  if (text.empty()) return json::object();
  // Checked before parsing: nlohmann::json parses any depth, but copying, encoding and printing
  // a value recurse once per level, and a few megabytes of '[' overflow the stack.
  if (protocol::json_nesting_depth(text) > protocol::kMaxNesting) {
    return fail(ErrorCategory::kInvalidArgument,
                "the request body nests arrays and objects more than " +
                    std::to_string(protocol::kMaxNesting) + " levels deep; flatten it");
  }
  json body;
  try {
    body = json::parse(text);
  } catch (const json::out_of_range&) {
    // nlohmann's text for 1e400 names its own internals; say what it means.
    return fail(ErrorCategory::kInvalidArgument,
                "the request body has a number too large for a 64-bit float (such as 1e400); "
                "send it as a string");
  } catch (const json::exception& e) {
    return fail(ErrorCategory::kInvalidArgument,
                std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) {
    return fail(ErrorCategory::kInvalidArgument,
                std::string("the request body must be a JSON object, got ") + body.type_name());
  }
  return body;
}

}  // namespace mlbridge::server
