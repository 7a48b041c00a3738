#pragma once

// An HTTP no-op endpoint under load from keep-alive clients (cpp-httplib, TCP_NODELAY, one
// connection per caller thread): latency at concurrency 1 and closed-loop throughput against
// concurrent callers. The same client measures mlbridge serve and the peers (FastAPI + uvicorn).
// Main thread only; the caller threads are its own.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlbridge::bench {

struct HttpTarget {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path;  ///< POST target
  std::string body;  ///< JSON request body
};

/// Per-call latency summary (see measure.hpp) of sequential POSTs on one connection.
nlohmann::json http_latency(const HttpTarget& target, double seconds);
/// {"calls_per_s", "errors"} with `callers` threads each POSTing in a loop for `seconds`.
nlohmann::json http_throughput(const HttpTarget& target, int callers, double seconds);

/// mlbridge serve in this process (HttpServer over a Host with the echo bridge): "latency"
/// lines for both worker codecs and "throughput" lines for pools of `workers`.
void run_mlbridge_http(const std::vector<int>& workers, const std::vector<int>& callers,
                       double seconds);

/// The payload echoes of payloads.hpp through mlbridge serve (JSON bodies, bytes as
/// {"__bytes__": base64}) to a JSON and a MessagePack worker: "payload" lines.
void run_http_payload(const std::vector<std::size_t>& sizes, double seconds);

}  // namespace mlbridge::bench
