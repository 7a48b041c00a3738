#include "router.hpp"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <boost/asio/post.hpp>

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
  routes_.push_back({std::move(method), RoutePattern(pattern), runs, std::move(handler), {}});
}

void Router::add_async(std::string method, const std::string& pattern, AsyncHandler handler) {
  routes_.push_back(
      {std::move(method), RoutePattern(pattern), Runs::kOnIoThread, {}, std::move(handler)});
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
  std::vector<std::string_view> captures;
  for (const auto& route : routes_) {
    if (route.method != request.method) continue;
    if (!route.pattern.match(request.path, captures)) continue;
    request.matches.clear();
    request.matches.reserve(captures.size() + 1);
    request.matches.push_back(request.path);
    for (const std::string_view raw : captures) {
      auto decoded = percent_decode(raw, false);
      request.matches.push_back(decoded ? std::move(*decoded) : std::string(raw));
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
