#pragma once

// The checks every request passes before authentication and routing, as plain functions of
// strings (no HTTP library type), so that any server front end can call them:
//
// - Host (DNS rebinding): a web page whose name was re-pointed at this machine reaches the port
//   with its own name in `Host`. Every route except /healthz, /readyz and /metrics (probes and
//   scrapers that address the host by pod IP or any name) must carry a `Host` naming this
//   server: the listen address, on a loopback or wildcard listener also localhost, 127.0.0.1 and
//   [::1] with its port, on a wildcard listener (0.0.0.0, ::) any IP address (a rebinding needs
//   a name), plus host.allowed_hosts.
//   Refused with 421. A request without `Host` (HTTP/1.0 tools) passes: browsers always send one.
// - Origin (cross-site requests): a mutating request (POST, PUT, PATCH, DELETE) that carries a
//   browser `Origin` is refused with 403 unless the origin is in host.allowed_origins.
// - Content-Type: POST, PUT and PATCH, and a DELETE with a body, must say
//   `Content-Type: application/json` (parameters such as charset allowed), else 415. A browser
//   can send only text/plain, form and multipart bodies to another site without asking first
//   (a CORS preflight, which this server never answers), so a JSON-only API cannot be driven by a
//   page's plain form or fetch.
//
// Stateless functions; any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/errors/error.hpp"

namespace mlbridge::server {

/// What the checks compare a request with: the listener and the operator's lists.
struct GuardSettings {
  std::string listen_host;  ///< As in the listen address, without brackets: "127.0.0.1", "::1".
  int port = 0;             ///< The port bound (or configured, before binding).
  std::vector<std::string> allowed_hosts;    ///< host.allowed_hosts: "name" or "name:port".
  std::vector<std::string> allowed_origins;  ///< host.allowed_origins: "https://name[:port]".
};

/// The parts of a request the checks read; an absent header is nullopt.
struct RequestFacts {
  std::string_view method;
  std::string_view path;
  std::optional<std::string_view> host;
  std::optional<std::string_view> origin;
  std::optional<std::string_view> content_type;
  bool has_body = false;  ///< A Content-Length above 0 or a Transfer-Encoding header.
};

/// Why a request is refused: the HTTP status to answer and the error for the body.
struct Refusal {
  int status = 400;
  Error error;
};

/// Whether `host` names this machine only: 127.0.0.0/8, ::1 (also ::ffff:127.x.y.z), localhost.
bool is_loopback_host(const std::string& host);

/// POST, PUT, PATCH and DELETE.
bool is_mutating(std::string_view method);

/// The Host check (421); nullopt when the request may go on.
std::optional<Refusal> check_host(const GuardSettings& settings, const RequestFacts& request);
/// The Origin check of mutating requests (403).
std::optional<Refusal> check_origin(const GuardSettings& settings, const RequestFacts& request);
/// The Content-Type check of mutating requests (415).
std::optional<Refusal> check_content_type(const RequestFacts& request);

/// The three checks in this order: Host, Origin, Content-Type; the first refusal, if any.
std::optional<Refusal> guard_request(const GuardSettings& settings, const RequestFacts& request);

}  // namespace mlbridge::server
