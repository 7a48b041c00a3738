#include "router.hpp"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <boost/asio/post.hpp>
#include <string_view>

#include "http_errors.hpp"

namespace mlbridge::server {
namespace {

// Compares without an early exit, so the time taken says nothing about where a guess went wrong.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string_view longer = a.size() >= b.size() ? a : b;
  for (std::size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

// The credentials of "Authorization: <scheme> <credentials>" when the scheme is Bearer, in any
// case (RFC 9110 section 11.1: schemes are case-insensitive).
std::optional<std::string_view> bearer_credentials(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      ::strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0 ||
      authorization[kScheme.size()] != ' ') {
    return std::nullopt;
  }
  authorization.remove_prefix(kScheme.size());
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  return authorization;
}

RequestFacts facts_of(const HttpRequest& request) {
  RequestFacts facts;
  facts.method = request.method;
  facts.path = request.path;
  facts.host = request.header("Host");
  facts.origin = request.header("Origin");
  facts.content_type = request.header("Content-Type");
  const auto length = request.header("Content-Length");
  facts.has_body = request.header("Transfer-Encoding").has_value() ||
                   (length && length->find_first_not_of('0') != std::string_view::npos);
  return facts;
}

constexpr std::string_view kAnySegment = "([^/]+)";

// "/v1/bridges/([^/]+)" -> {"v1", "bridges", ""}; "" stands for a captured segment.
std::vector<std::string> segments_of(std::string_view pattern) {
  std::vector<std::string> out;
  if (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
  while (true) {
    // The capture holds a '/' of its own ("[^/]"), so it is taken whole before splitting.
    if (pattern.substr(0, kAnySegment.size()) == kAnySegment) {
      out.emplace_back();
      pattern.remove_prefix(kAnySegment.size());
      if (pattern.empty()) break;
      pattern.remove_prefix(1);  // the '/' after it
      continue;
    }
    const auto slash = pattern.find('/');
    out.emplace_back(pattern.substr(0, slash));
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
  }
  return out;
}

// The captured segments of `path` (raw), or nullopt when it does not match.
std::optional<std::vector<std::string_view>> match_segments(
    const std::vector<std::string>& segments, std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  path.remove_prefix(1);
  std::vector<std::string_view> captured;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto slash = path.find('/');
    const bool last = i + 1 == segments.size();
    if (last != (slash == std::string_view::npos)) return std::nullopt;
    const std::string_view segment = path.substr(0, slash);
    if (segments[i].empty()) {
      if (segment.empty()) return std::nullopt;
      captured.push_back(segment);
    } else if (segment != segments[i]) {
      return std::nullopt;
    }
    if (!last) path.remove_prefix(slash + 1);
  }
  return captured;
}

HttpResponse error_response(const Error& error, int status) {
  HttpResponse response;
  send_json(response, error_body(error), status);
  return response;
}

}  // namespace

Router::Router(const GuardSettings& guard, const std::string& auth_token,
               boost::asio::thread_pool& blocking)
    : guard_(guard), auth_token_(auth_token), blocking_(blocking) {}

void Router::add(std::string method, const std::string& pattern, Runs runs, Handler handler) {
  routes_.push_back({std::move(method), segments_of(pattern), runs, std::move(handler), {}});
}

void Router::add_async(std::string method, const std::string& pattern, AsyncHandler handler) {
  routes_.push_back(
      {std::move(method), segments_of(pattern), Runs::kOnIoThread, {}, std::move(handler)});
}

std::optional<HttpResponse> Router::refuse_unauthorized(const HttpRequest& request) const {
  if (auth_token_.empty() || request.path == "/healthz") return std::nullopt;
  const auto given = request.header("Authorization");
  const auto credentials = given ? bearer_credentials(*given) : std::nullopt;
  if (credentials && constant_time_equal(*credentials, auth_token_)) return std::nullopt;
  HttpResponse response =
      error_response(Error::make(ErrorCategory::kAuthentication,
                                 !given ? "this server needs 'Authorization: Bearer <token>'"
                                        : "the bearer token is not valid for this server"),
                     401);
  response.set_header("WWW-Authenticate", "Bearer");
  return response;
}

void Router::dispatch(HttpRequest&& request, const ExchangePtr& exchange) const {
  if (auto refused = guard_request(guard_, facts_of(request))) {
    return exchange->reply(error_response(refused->error, refused->status));
  }
  if (auto refused = refuse_unauthorized(request)) return exchange->reply(std::move(*refused));
  for (const auto& route : routes_) {
    if (route.method != request.method) continue;
    const auto captured = match_segments(route.segments, request.path);
    if (!captured) continue;
    request.matches.assign(1, request.path);
    for (const auto raw : *captured) {
      request.matches.push_back(percent_decode(raw, false).value_or(std::string(raw)));
    }
    return run(route, std::move(request), exchange);
  }
  exchange->reply(error_response(
      Error::make(ErrorCategory::kNotFound,
                  "no route " + request.method + " " + request.path + " (see docs/http-api.md)"),
      404));
}

void Router::run(const Route& route, HttpRequest&& request, const ExchangePtr& exchange) const {
  const auto failed = [&request](const char* what) {
    spdlog::error("{} {} failed: {}", request.method, request.path, what);
    return error_response(Error::make(ErrorCategory::kInternal,
                                      std::string("the server failed on this request: ") + what),
                          500);
  };
  if (route.async) {
    try {
      route.async(std::move(request), exchange);
    } catch (const std::exception& e) {
      exchange->reply(failed(e.what()));
    }
    return;
  }
  auto serve = [&route, exchange, failed](const HttpRequest& req) {
    HttpResponse response;
    try {
      route.handler(req, response);
    } catch (const std::exception& e) {
      response = failed(e.what());
    }
    exchange->reply(std::move(response));
  };
  if (route.runs == Runs::kOnIoThread) return serve(request);
  boost::asio::post(blocking_, [&route, exchange, request = std::move(request)]() mutable {
    HttpResponse response;
    try {
      route.handler(request, response);
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", request.method, request.path, e.what());
      response =
          error_response(Error::make(ErrorCategory::kInternal,
                                     std::string("the server failed on this request: ") + e.what()),
                         500);
    }
    exchange->reply(std::move(response));
  });
}

}  // namespace mlbridge::server
