// Fuzzes the HTTP API's request handling without sockets: raw request bytes (request line, path,
// headers, JSON body; several requests on one keep-alive connection) go through
// HttpServer::serve_in_memory, i.e. the server's request reader (the header checks and
// Boost.Beast's parser, the same path as a socket connection), the request guard (Host, Origin,
// Content-Type), the bearer-token check, the router, the routes and the error bodies, over a
// real Host. The
// host has no bridges and runtime registration is off (host.runtime_registration's default), so no
// input can start a Python worker; commands, resources and bridge lookups answer not_found,
// sessions are created and listed. The first byte picks the server with or without a token.
// Every answer must be a well-formed HTTP response.

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "mlbridge/host.hpp"
#include "mlbridge/server/http_server.hpp"

namespace {

struct Servers {
  std::unique_ptr<mlbridge::Host> host;
  std::unique_ptr<mlbridge::server::HttpServer> open;
  std::unique_ptr<mlbridge::server::HttpServer> with_token;
};

Servers& servers() {
  static Servers* servers = [] {
    spdlog::set_level(spdlog::level::off);
    mlbridge::config::HostConfig config;
    config.root = "/";
    config.python = "/bin/false";
    auto* made = new Servers;
    made->host = mlbridge::Host::from_config(config);
    if (!made->host->start()) std::abort();
    mlbridge::server::ServerOptions options;
    // Never bound (serve_in_memory); the corpus's Host headers name this address.
    options.listen = "127.0.0.1:8787";
    options.max_body_bytes = 64 * 1024;
    made->open = std::make_unique<mlbridge::server::HttpServer>(*made->host, options);
    options.auth_token = "fuzz-token";
    made->with_token = std::make_unique<mlbridge::server::HttpServer>(*made->host, options);
    return made;
  }();
  return *servers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  Servers& s = servers();
  auto& server = (data[0] & 1) != 0 ? *s.with_token : *s.open;
  const std::string_view request(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string response = server.serve_in_memory(request);
  if (!response.empty() && response.rfind("HTTP/1.1 ", 0) != 0) std::abort();
  // Sessions made by this input end with it, so inputs stay independent.
  for (const auto& id : s.host->list_sessions()) (void)s.host->end_session(id);
  return 0;
}
