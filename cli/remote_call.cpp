#include "remote_call.hpp"

#include <httplib.h>

#include <iostream>

namespace mlbridge::cli {
namespace {

using protocol::json;

// Splits the SSE stream into events as bytes arrive; handles an event per complete block.
class SseReader {
 public:
  // Returns the exit code once the final event arrived, else nullopt.
  std::optional<int> feed(const char* data, std::size_t size) {
    buffer_.append(data, size);
    std::size_t end;
    while ((end = buffer_.find("\n\n")) != std::string::npos) {
      const std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      if (auto done = handle(block)) return done;
    }
    return std::nullopt;
  }

 private:
  static std::optional<int> handle(const std::string& block) {
    std::string event;
    std::string data;
    std::size_t start = 0;
    while (start < block.size()) {
      std::size_t stop = block.find('\n', start);
      if (stop == std::string::npos) stop = block.size();
      const std::string line = block.substr(start, stop - start);
      if (line.rfind("event: ", 0) == 0) event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data = line.substr(6);
      start = stop + 1;
    }
    if (event.empty()) return std::nullopt;  // a ": waiting" comment
    const json value = json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (event == "chunk") {
      std::cout << value.dump() << "\n" << std::flush;
      return std::nullopt;
    }
    if (event == "result") {
      std::cout << value.value("result", json()).dump(2) << "\n";
      return 0;
    }
    const json error = value.value("error", json::object());
    std::cerr << "error: " << error.value("category", "internal") << ": "
              << error.value("message", data) << "\n";
    return 1;
  }

  std::string buffer_;
};

}  // namespace

int run_remote_call(const RemoteCall& call) {
  httplib::Client client(call.url);
  if (!client.is_valid()) {
    std::cerr << "error: invalid_argument: --url must look like http://127.0.0.1:8787, got '"
              << call.url << "'\n";
    return 2;
  }
  client.set_tcp_nodelay(true);
  client.set_read_timeout(call.timeout_ms > 0 ? call.timeout_ms / 1000 + 60 : 3600);
  json body = {{"args", call.args}, {"stream", true}};
  if (!call.session.empty()) body["session"] = call.session;
  if (call.timeout_ms > 0) body["timeout_ms"] = call.timeout_ms;

  httplib::Request request;
  request.method = "POST";
  request.path = "/v1/bridges/" + call.bridge + "/commands/" + call.command;
  request.body = body.dump();
  request.set_header("Content-Type", "application/json");
  if (!call.token.empty()) request.set_header("Authorization", "Bearer " + call.token);
  SseReader reader;
  std::optional<int> exit_code;
  std::string plain;  // the body of a non-streamed answer (an error before the stream started)
  int status = 0;
  request.response_handler = [&](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  request.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    if (status != 200) {
      plain.append(data, size);
      return true;
    }
    exit_code = reader.feed(data, size);
    return !exit_code.has_value();
  };
  const auto result = client.send(request);
  if (exit_code) return *exit_code;
  if (status != 0 && status != 200) {
    const json answer = json::parse(plain, nullptr, /*allow_exceptions=*/false);
    const json error = answer.is_object() ? answer.value("error", json::object()) : json::object();
    std::cerr << "error: " << error.value("category", "internal") << ": "
              << error.value("message", "HTTP " + std::to_string(status) + ": " + plain) << "\n";
    return 1;
  }
  if (!result) {
    std::cerr << "error: bridge_unavailable: cannot reach " << call.url << " ("
              << httplib::to_string(result.error()) << "); is `mlbridge serve` running?\n";
    return 2;
  }
  std::cerr << "error: protocol_error: the server closed the stream before the result\n";
  return 1;
}

}  // namespace mlbridge::cli
