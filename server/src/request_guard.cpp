#include "request_guard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>

#include "ascii_text.hpp"

namespace mlbridge::server {
namespace {

// "name", "name:port", "[v6]" or "[v6]:port", the name in lower case without brackets.
struct Authority {
  std::string name;
  std::optional<int> port;
};

std::optional<int> parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  return port <= 65535 ? std::optional<int>(port) : std::nullopt;
}

std::optional<Authority> parse_authority(std::string_view text) {
  text = trim_ows(text);
  Authority out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.name = lower_ascii(text.substr(1, close - 1));
    rest = text.substr(close + 1);
  } else {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return std::nullopt;  // an IPv6 address must be bracketed
    }
    out.name = lower_ascii(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
  }
  if (out.name.empty()) return std::nullopt;
  if (!rest.empty()) {
    if (rest.front() != ':') return std::nullopt;
    out.port = parse_port(rest.substr(1));
    if (!out.port) return std::nullopt;
  }
  return out;
}

bool is_ip_literal(const std::string& name) {
  in_addr v4{};
  in6_addr v6{};
  return ::inet_pton(AF_INET, name.c_str(), &v4) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), &v6) == 1;
}

bool is_wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

bool is_probe_route(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

std::string bracketed(const std::string& name) {
  return name.find(':') != std::string::npos ? "[" + name + "]" : name;
}

Refusal refusal(int status, ErrorCategory category, std::string message) {
  return {status, Error::make(category, std::move(message))};
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (lower_ascii(host) == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

bool is_mutating(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

std::optional<Refusal> check_host(const GuardSettings& settings, const RequestFacts& request) {
  if (!request.host || is_probe_route(request.path)) return std::nullopt;
  const std::string listen = lower_ascii(settings.listen_host);
  const std::string port = std::to_string(settings.port);
  if (const auto given = parse_authority(*request.host)) {
    const int given_port = given->port.value_or(80);
    const bool this_port = given_port == settings.port;
    if (given->name == listen && this_port) return std::nullopt;
    if ((is_loopback_host(listen) || is_wildcard(listen)) && this_port &&
        (given->name == "localhost" || given->name == "127.0.0.1" || given->name == "::1")) {
      return std::nullopt;
    }
    // A DNS rebinding needs a name; an address in Host is what the client connected to.
    if (is_wildcard(listen) && is_ip_literal(given->name)) return std::nullopt;
    for (const auto& entry : settings.allowed_hosts) {
      const auto allowed = parse_authority(entry);
      if (allowed && allowed->name == given->name &&
          (!allowed->port || allowed->port == given_port)) {
        return std::nullopt;
      }
    }
  }
  std::string names = bracketed(listen) + ":" + port;
  if (is_loopback_host(listen))
    names = "localhost:" + port + ", 127.0.0.1:" + port + ", [::1]:" + port;
  if (is_wildcard(listen)) names = "localhost:" + port + " and any IP address of this machine";
  for (const auto& entry : settings.allowed_hosts) names += ", " + entry;
  return refusal(421, ErrorCategory::kInvalidArgument,
                 "the Host header '" + std::string(*request.host) +
                     "' does not name this server (it answers to " + names +
                     "); a web page reaching it through a re-pointed DNS name (DNS rebinding) "
                     "is refused. Use one of those names, or list this one in host.allowed_hosts");
}

std::optional<Refusal> check_origin(const GuardSettings& settings, const RequestFacts& request) {
  if (!request.origin || !is_mutating(request.method)) return std::nullopt;
  std::string origin = lower_ascii(trim_ows(*request.origin));
  while (!origin.empty() && origin.back() == '/') origin.pop_back();
  for (const auto& allowed : settings.allowed_origins) {
    std::string entry = lower_ascii(allowed);
    while (!entry.empty() && entry.back() == '/') entry.pop_back();
    if (entry == origin) return std::nullopt;
  }
  return refusal(403, ErrorCategory::kAuthentication,
                 std::string(request.method) + " " + std::string(request.path) +
                     " comes from a web page (Origin: " + std::string(*request.origin) +
                     "), and pages may not change anything on this server; if that page is "
                     "yours, list its origin in host.allowed_origins");
}

std::optional<Refusal> check_content_type(const RequestFacts& request) {
  if (!is_mutating(request.method)) return std::nullopt;
  if (request.method == "DELETE" && !request.has_body) return std::nullopt;
  std::string_view media = request.content_type.value_or("");
  media = trim_ows(media.substr(0, media.find(';')));
  if (lower_ascii(media) == "application/json") return std::nullopt;
  const std::string got =
      request.content_type ? "'" + std::string(*request.content_type) + "'" : "none";
  return refusal(415, ErrorCategory::kInvalidArgument,
                 std::string(request.method) + " " + std::string(request.path) +
                     " needs 'Content-Type: application/json' (got " + got +
                     "); with curl, add -H 'Content-Type: application/json'");
}

std::optional<Refusal> guard_request(const GuardSettings& settings, const RequestFacts& request) {
  if (auto refused = check_host(settings, request)) return refused;
  if (auto refused = check_origin(settings, request)) return refused;
  return check_content_type(request);
}

}  // namespace mlbridge::server
