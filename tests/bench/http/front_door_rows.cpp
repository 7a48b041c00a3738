// front_door_rows: the per-call rows of the front door's benchmark (issue 22,
// docs/benchmarks-http.md), each against a server already running on loopback:
//
//   front_door_rows tcp                                     loopback TCP round trip (the floor)
//   front_door_rows latency    --port P --path X --body-file F|--body B [--seconds S]
//   front_door_rows throughput --port P --path X --body B --callers N [--seconds S]
//   front_door_rows payload    --port P --path X --kind nested|bytes --size BYTES [--wrap-args]
//
// `tcp` times 64-byte ping-pongs between two sockets of this process (a thread echoes); the
// others POST on keep-alive connections (TCP_NODELAY; Beast, except `payload`'s client, which
// writes a request made once and reads into a buffer kept across calls). `payload` builds a
// nested-record JSON document (tests/bench/compare/payloads.cpp's records) or base64 bytes
// ({"__bytes__"}) of about --size bytes; --wrap-args sends it as {"args": <payload>} (mlbridge's
// command body), otherwise as it is (FastAPI's /noop). Each prints one JSON line: median and p99 in
// microseconds (latency, payload: also MB/s of payload), or calls/s (throughput).

// Boost 1.74's headers use std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

using Flags = std::map<std::string, std::string>;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

json summary(std::vector<double> us) {
  if (us.empty()) return {{"count", 0}};
  std::sort(us.begin(), us.end());
  auto at = [&us](double f) { return us[static_cast<std::size_t>(f * (us.size() - 1))]; };
  return {{"count", us.size()}, {"median_us", at(0.5)}, {"p99_us", at(0.99)}};
}

// One keep-alive client connection.
class Client {
 public:
  Client(int port, const std::string& path) : stream_(io_), port_(port), path_(path) {
    stream_.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    stream_.socket().set_option(tcp::no_delay(true));
  }
  // POSTs `body`; the status (0 on a transport error).
  int post(const std::string& body) {
    http::request<http::string_body> request{http::verb::post, path_, 11};
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    request.set(http::field::content_type, "application/json");
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    beast::error_code ec;
    http::write(stream_, request, ec);
    if (ec) return 0;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ULL << 30);
    http::read(stream_, buffer_, parser, ec);
    if (ec) return 0;
    return static_cast<int>(parser.get().result_int());
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  int port_;
  std::string path_;
};

// Let one read or write system call move as much as it can: asio::read and asio::write otherwise
// stop each call at 64 KiB, ~340 calls each way for a 16 MiB body.
std::size_t as_much_as_possible(const boost::system::error_code& ec, std::size_t /*done*/) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

// A keep-alive client for large bodies, so that the driver costs little next to what it times:
// the request (head and body) is made once and written from where it is, and the response is
// read into one buffer kept from call to call (no fresh memory, so no page faults, after the
// first call) with reads as large as the socket allows. Takes responses with a Content-Length.
class PayloadClient {
 public:
  PayloadClient(int port, const std::string& path, const std::string& body)
      : socket_(io_), body_(body) {
    socket_.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    socket_.set_option(tcp::no_delay(true));
    head_ = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n";
    in_.resize(1 << 16);
  }
  // POSTs the body; the status (0 on a transport error or a response without a length).
  int post() {
    boost::system::error_code ec;
    const std::array<asio::const_buffer, 2> request{asio::buffer(head_), asio::buffer(body_)};
    asio::write(socket_, request, as_much_as_possible, ec);
    if (ec) return 0;
    std::size_t have = 0;
    std::size_t head_end = std::string_view::npos;
    while (head_end == std::string_view::npos) {
      if (have == in_.size()) in_.resize(2 * in_.size());
      have += socket_.read_some(asio::buffer(in_.data() + have, in_.size() - have), ec);
      if (ec) return 0;
      head_end = std::string_view(in_.data(), have).find("\r\n\r\n");
    }
    const auto head = std::string_view(in_.data(), head_end + 4);
    const auto length = content_length(head);
    if (!length || head.size() < 12) return 0;
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    const std::size_t total = head.size() + *length;  // (head dangles once in_ grows)
    if (in_.size() < total) in_.resize(total);        // kept: later calls read into the same memory
    if (have < total) {
      asio::read(socket_, asio::buffer(in_.data() + have, total - have), as_much_as_possible, ec);
      if (ec) return 0;
    }
    return status;
  }

 private:
  static std::optional<std::size_t> content_length(std::string_view head) {
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(lower.substr(at + 17));
  }

  asio::io_context io_;
  tcp::socket socket_;
  const std::string& body_;
  std::string head_;
  std::vector<char> in_;
};

int tcp_round_trip(double seconds) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread echo([&acceptor] {
    tcp::socket peer = acceptor.accept();
    peer.set_option(tcp::no_delay(true));
    char data[64];
    boost::system::error_code ec;
    while (asio::read(peer, asio::buffer(data), ec) == sizeof(data) && !ec) {
      asio::write(peer, asio::buffer(data), ec);
      if (ec) break;
    }
  });
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  client.set_option(tcp::no_delay(true));
  char data[64] = {};
  std::vector<double> us;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    const auto start = Clock::now();
    asio::write(client, asio::buffer(data));
    asio::read(client, asio::buffer(data));
    us.push_back(micros(Clock::now() - start));
  }
  client.close();
  echo.join();
  std::cout << json{{"row", "tcp_round_trip"}, {"latency", summary(us)}}.dump() << std::endl;
  return 0;
}

int latency(const Flags& f, const std::string& body, double seconds) {
  Client client(std::stoi(f.at("port")), f.at("path"));
  std::vector<double> us;
  int errors = 0;
  for (int i = 0; i < 20; ++i) client.post(body);  // warm-up
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    const auto start = Clock::now();
    const int status = client.post(body);
    us.push_back(micros(Clock::now() - start));
    if (status != 200) ++errors;
  }
  std::cout << json{{"row", "latency"},
                    {"path", f.at("path")},
                    {"latency", summary(us)},
                    {"errors", errors}}
                   .dump()
            << std::endl;
  return errors ? 1 : 0;
}

int throughput(const Flags& f, const std::string& body, double seconds) {
  const int callers = std::stoi(f.at("callers"));
  std::atomic<long> calls{0};
  std::atomic<long> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&] {
      try {
        Client client(std::stoi(f.at("port")), f.at("path"));
        while (!stop.load()) {
          if (client.post(body) == 200) {
            ++calls;
          } else {
            ++errors;
          }
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const long done = calls.load();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& thread : threads) thread.join();
  std::cout << json{{"row", "throughput"},
                    {"path", f.at("path")},
                    {"callers", callers},
                    {"calls_per_s", static_cast<double>(done) / elapsed},
                    {"errors", errors.load()}}
                   .dump()
            << std::endl;
  return 0;
}

// The nested records of tests/bench/compare/payloads.cpp, as JSON text of about `size` bytes.
std::string nested_payload(std::size_t size) {
  auto record = [](std::size_t i) {
    return json{{"id", i},
                {"name", "record-" + std::to_string(i)},
                {"score", static_cast<double>(i) * 0.25},
                {"tags", {"alpha", "beta", "gamma"}},
                {"attrs", {{"x", i}, {"y", {1, 2, 3}}, {"ok", true}}}};
  };
  const std::size_t per_record = record(100000).dump().size() + 1;
  json items = json::array();
  for (std::size_t i = 0; i < std::max<std::size_t>(1, size / per_record); ++i) {
    items.push_back(record(i));
  }
  return json{{"data", {{"items", std::move(items)}}}}.dump();
}

std::string bytes_payload(std::size_t size) {
  const std::string raw(size, '\x5a');
  std::string encoded(beast::detail::base64::encoded_size(size), '\0');
  encoded.resize(beast::detail::base64::encode(encoded.data(), raw.data(), size));
  return R"({"data":{"__bytes__":")" + encoded + "\"}}";
}

int payload(const Flags& f, double seconds) {
  const std::size_t size = std::stoull(f.at("size"));
  const bool nested = f.at("kind") == "nested";
  std::string text = nested ? nested_payload(size) : bytes_payload(size);
  const std::size_t payload_bytes = nested ? text.size() : size;
  if (f.contains("wrap-args")) text = R"({"args":)" + text + "}";
  PayloadClient client(std::stoi(f.at("port")), f.at("path"), text);
  std::vector<double> us;
  int errors = 0;
  if (client.post() != 200) ++errors;  // warm-up (and the response buffer's first growth)
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end || us.size() < 3) {
    const auto start = Clock::now();
    if (client.post() != 200) ++errors;
    us.push_back(micros(Clock::now() - start));
  }
  json out = {{"row", "payload"}, {"kind", f.at("kind")},      {"path", f.at("path")},
              {"size", size},     {"body_bytes", text.size()}, {"latency", summary(us)},
              {"errors", errors}};
  std::sort(us.begin(), us.end());
  out["mb_per_s"] = static_cast<double>(payload_bytes) / us[us.size() / 2];  // bytes/us = MB/s
  std::cout << out.dump() << std::endl;
  return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: front_door_rows tcp|latency|throughput|payload [--flag value]...\n";
    return 2;
  }
  const std::string mode = argv[1];
  Flags flags;
  for (int i = 2; i < argc; ++i) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0) {
      std::cerr << "front_door_rows: unexpected " << name << "\n";
      return 2;
    }
    name = name.substr(2);
    if (name == "wrap-args") {
      flags[name] = "1";
    } else if (i + 1 < argc) {
      flags[name] = argv[++i];
    } else {
      std::cerr << "front_door_rows: --" << name << " needs a value\n";
      return 2;
    }
  }
  const double seconds = flags.contains("seconds") ? std::stod(flags["seconds"]) : 2.0;
  try {
    if (mode == "tcp") return tcp_round_trip(seconds);
    std::string body = flags.contains("body") ? flags["body"] : "{}";
    if (flags.contains("body-file")) {
      std::ifstream in(flags["body-file"]);
      std::stringstream text;
      text << in.rdbuf();
      body = text.str();
    }
    if (mode == "latency") return latency(flags, body, seconds);
    if (mode == "throughput") return throughput(flags, body, seconds);
    if (mode == "payload") return payload(flags, seconds);
  } catch (const std::exception& error) {
    std::cerr << "front_door_rows " << mode << ": " << error.what() << "\n";
    return 1;
  }
  std::cerr << "front_door_rows: unknown mode " << mode << "\n";
  return 2;
}
