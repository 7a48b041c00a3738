#pragma once

// The request and response of one HTTP exchange as the routes see them, independent of the
// transport (a socket connection or HttpServer::serve_in_memory), and their wire form.
// Private to the server library; plain values, any thread.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlbridge::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// A complete request, read and checked by RequestReader.
struct HttpRequest {
  std::string method;  ///< "GET", "POST", ... as sent.
  std::string target;  ///< The request target as sent ("/v1/sessions?limit=5").
  /// The target before '?', not percent-decoded: routing sees "%2F" as three characters, so an
  /// encoded slash can never reach another route.
  std::string path;
  HeaderList headers;                                       ///< In order, names as sent.
  std::vector<std::pair<std::string, std::string>> params;  ///< The query, percent-decoded.
  std::string body;                                         ///< De-chunked.
  bool keep_alive = true;  ///< HTTP/1.1 without "Connection: close", or 1.0 with keep-alive.
  /// Set by the router: [0] the whole path, [1..] the pattern's groups, each percent-decoded.
  std::vector<std::string> matches;

  /// The first header of that name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
  bool has_param(std::string_view name) const;
  /// The first query parameter of that name ("" when absent).
  std::string get_param_value(std::string_view name) const;
};

/// What a route answers; serialized with Content-Length by serialize_response().
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  HeaderList headers;  ///< Besides Content-Type, Content-Length and Connection.

  void set_content(std::string text, std::string type) {
    body = std::move(text);
    content_type = std::move(type);
  }
  void set_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

/// "Not Found" for 404, ...; "Client Closed Request" for 499; "Unknown" for codes without one.
std::string_view reason_phrase(int status);

/// The full HTTP/1.1 response, with "Connection: keep-alive" or "Connection: close".
std::string serialize_response(const HttpResponse& response, bool keep_alive);
/// serialize_response() without the body: status line and headers up to the empty line. A
/// connection writes it and the body as two buffers, so that a large body is never copied.
std::string response_head(const HttpResponse& response, bool keep_alive);

/// The header naming a call's id (Host's "call-<n>") in every command answer; the id works with
/// GET and DELETE /v1/calls/{id}.
inline constexpr const char* kCallIdHeader = "X-Mlbridge-Call-Id";
/// {kCallIdHeader: id}, or no header for an empty id.
HeaderList call_id_headers(const std::string& call_id);

/// The head of a Server-Sent Events answer (200, text/event-stream, chunked), with `headers`.
std::string event_stream_head(bool keep_alive, const HeaderList& headers = {});
/// One chunk of a chunked body holding `data` (not empty).
std::string chunk(std::string_view data);
/// The end of a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

/// %XX decoded (and '+' as a space when `plus_is_space`); nullopt for a broken escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

/// "a=1&b=x%20y" as decoded pairs; a broken escape keeps the raw text.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

}  // namespace mlbridge::server
