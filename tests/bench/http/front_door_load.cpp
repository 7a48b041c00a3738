// front_door_load: the front door's load bench (issue 22, docs/benchmarks.md): many open
// keep-alive connections and many calls waiting in a bridge's queue, while /healthz (and a call
// to another bridge) is timed throughout.
//
//   front_door_load --port 8787 [--token T] [--idle 10000] [--queued 2000]
//                   [--queued-path /v1/bridges/echo/commands/sleep]
//                   [--queued-body '{"args": {"seconds": 0.01}}']
//                   [--other-path /v1/bridges/pair/commands/echo] [--server-pid PID] [--smoke]
//                   [--baseline-seconds 3]
//                   [--streams 2000] [--stream-path /v1/bridges/streams/commands/async_stream]
//                   [--stream-body '{"args": {"count": 100000, "delay": 0.5}, "stream": true}']
//
// 0. Runs the probes of step 4 for --baseline-seconds before any load (the baseline).
// 1. Opens --idle connections, each answering one /healthz, then left open and idle.
// 2. Opens --streams Server-Sent Events streams, each on its own connection, and reads them;
//    waits until each has sent its first bytes (live).
// 3. Sends --queued calls, each on its own connection, and does not wait for them.
// 4. Until every queued call is answered: /healthz every 5 ms on its own connection, and every
//    tenth probe a call to --other-path, and a 64-byte loopback TCP round trip (the machine's
//    floor under this load); each timed. Then closes the streams (the server cancels their
//    calls).
// Prints one JSON object: connections opened, queued calls answered and failed, /healthz,
// other-bridge and TCP floor latency (p50, p99, max, in ms), errors, and with --server-pid the
// server's RSS before and after the idle connections (bytes per idle connection). --smoke: 200
// idle, 50 queued, for CI. The load runs on one thread (Asio + Beast coroutines), the probes on
// a second one of their own, so that a probe's time is not spent waiting behind the load's
// reads in the same event loop; a third echoes the TCP floor's bytes. Raises its own
// RLIMIT_NOFILE. Loopback only.

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxIdle = 100000;
constexpr int kMaxQueued = 20000;
constexpr auto kProbeInterval = std::chrono::milliseconds(5);
constexpr auto kTimeout = std::chrono::seconds(600);

struct Options {
  int port = 0;
  std::string token;
  int idle = 10000;
  int queued = 2000;
  std::string queued_path = "/v1/bridges/echo/commands/sleep";
  std::string queued_body = R"({"args": {"seconds": 0.01}})";
  std::string other_path = "/v1/bridges/pair/commands/echo";
  double baseline_seconds = 3;
  int server_pid = 0;
  int streams = 0;
  bool smoke = false;
  std::string stream_path = "/v1/bridges/streams/commands/async_stream";
  std::string stream_body = R"({"args": {"count": 100000, "delay": 0.5}, "stream": true})";
};

// What the probe thread measures; read by main only after joining it.
struct Probes {
  std::vector<double> healthz_ms;
  std::vector<double> other_ms;
  std::vector<double> tcp_ms;
  int errors = 0;
  std::string first_error;

  void error(const std::string& what) {
    ++errors;
    if (first_error.empty()) first_error = what;
  }
};

// The load's tally: the main thread's only.
struct Tally {
  int idle_open = 0;
  int idle_failed = 0;
  int queued_ok = 0;
  int queued_failed = 0;
  int queued_done = 0;
  int streams_live = 0;     // sent their first bytes
  int streams_failed = 0;   // refused, or ended before the driver closed them
  int streams_settled = 0;  // live or failed
  long stream_bytes = 0;
  bool closing_streams = false;
  std::string first_error;

  void error(const std::string& what) {
    if (first_error.empty()) first_error = what;
  }
};

http::request<http::string_body> make_request(const Options& options, http::verb verb,
                                              const std::string& path, const std::string& body) {
  http::request<http::string_body> request{verb, path, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(options.port));
  if (!options.token.empty()) request.set(http::field::authorization, "Bearer " + options.token);
  if (verb == http::verb::post) {
    request.set(http::field::content_type, "application/json");
    request.body() = body;
  }
  request.keep_alive(true);
  request.prepare_payload();
  return request;
}

// One request on `stream`; the answer's status, or 0 with `error` set.
asio::awaitable<int> exchange(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                              http::request<http::string_body>& request, std::string& error) {
  beast::error_code ec;
  stream.expires_after(kTimeout);
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  http::response<http::string_body> answer;
  if (!ec)
    co_await http::async_read(stream, buffer, answer,
                              asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = ec.message();
    co_return 0;
  }
  co_return static_cast<int>(answer.result_int());
}

asio::awaitable<bool> connect(beast::tcp_stream& stream, const tcp::endpoint& endpoint,
                              std::string& error) {
  beast::error_code ec;
  stream.expires_after(kTimeout);
  co_await stream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) error = "connect: " + ec.message();
  co_return !ec;
}

asio::awaitable<void> open_idle(const Options& options, tcp::endpoint endpoint, Tally& tally,
                                std::vector<std::unique_ptr<beast::tcp_stream>>& kept) {
  auto executor = co_await asio::this_coro::executor;
  auto stream = std::make_unique<beast::tcp_stream>(executor);
  beast::flat_buffer buffer;
  std::string error;
  auto request = make_request(options, http::verb::get, "/healthz", "");
  if (co_await connect(*stream, endpoint, error) &&
      co_await exchange(*stream, buffer, request, error) == 200) {
    ++tally.idle_open;
    stream->expires_never();
    kept.push_back(std::move(stream));
  } else {
    ++tally.idle_failed;
    tally.error("idle connection: " + error);
  }
}

void close_streams(Tally& tally, std::vector<std::shared_ptr<beast::tcp_stream>>& streams) {
  tally.closing_streams = true;
  for (auto& stream : streams) {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->cancel();
  }
}

asio::awaitable<void> queued_call(const Options& options, tcp::endpoint endpoint, Tally& tally,
                                  std::atomic<bool>& queue_drained,
                                  std::vector<std::shared_ptr<beast::tcp_stream>>& streams) {
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream stream(executor);
  beast::flat_buffer buffer;
  std::string error;
  auto request = make_request(options, http::verb::post, options.queued_path, options.queued_body);
  const int status = co_await connect(stream, endpoint, error)
                         ? co_await exchange(stream, buffer, request, error)
                         : 0;
  if (status >= 200 && status < 300) {
    ++tally.queued_ok;
  } else {
    ++tally.queued_failed;
    tally.error("queued call: " + (status ? "HTTP " + std::to_string(status) : error));
  }
  if (++tally.queued_done == options.queued) {
    queue_drained = true;
    close_streams(tally, streams);
  }
}

asio::awaitable<void> live_stream(const Options& options, tcp::endpoint endpoint, Tally& tally,
                                  std::vector<std::shared_ptr<beast::tcp_stream>>& streams) {
  auto executor = co_await asio::this_coro::executor;
  auto stream = std::make_shared<beast::tcp_stream>(executor);
  streams.push_back(stream);
  std::string error;
  auto request = make_request(options, http::verb::post, options.stream_path, options.stream_body);
  beast::error_code ec;
  bool live = false;
  if (co_await connect(*stream, endpoint, error)) {
    stream->expires_never();
    co_await http::async_write(*stream, request, asio::redirect_error(asio::use_awaitable, ec));
    std::vector<char> data(16 * 1024);
    while (!ec) {
      const std::size_t got = co_await stream->async_read_some(
          asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
      tally.stream_bytes += static_cast<long>(got);
      if (!live && got > 0) {
        live = true;
        // The head of an event stream, not an error answer.
        if (std::string_view(data.data(), std::min<std::size_t>(got, 12)) != "HTTP/1.1 200") {
          tally.error("stream: " + std::string(data.data(), std::min<std::size_t>(got, 200)));
          ++tally.streams_failed;
          ++tally.streams_settled;
          co_return;
        }
        ++tally.streams_live;
        ++tally.streams_settled;
      }
    }
  } else {
    ec = asio::error::not_connected;
  }
  if (!tally.closing_streams) {
    tally.error("stream ended early: " + (error.empty() ? ec.message() : error));
    ++tally.streams_failed;
    if (!live) ++tally.streams_settled;
    if (live) --tally.streams_live;
  }
}

// A blocking echo of 64-byte messages on loopback, for the TCP floor under load: the peer of
// the probe thread's `floor` socket, on a thread of its own (as a server's would be).
class FloorEcho {
 public:
  FloorEcho() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] {
      for (;;) {  // one prober at a time, each until its EOF
        beast::error_code ec;
        tcp::socket peer = acceptor_.accept(ec);
        if (ec || done_) return;
        peer.set_option(tcp::no_delay(true));
        std::array<char, 64> data{};
        while (!ec) {
          asio::read(peer, asio::buffer(data), ec);
          if (!ec) asio::write(peer, asio::buffer(data), ec);
        }
      }
    });
  }
  // Joins the echo thread, once every prober closed its connection: a connection of its own
  // ends the thread's last accept.
  ~FloorEcho() {
    done_ = true;
    beast::error_code ignored;
    tcp::socket nudge(io_);
    nudge.connect(acceptor_.local_endpoint(), ignored);
    nudge.close(ignored);
    thread_.join();
  }
  FloorEcho(const FloorEcho&) = delete;
  FloorEcho& operator=(const FloorEcho&) = delete;
  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> done_ = false;
  std::thread thread_;
};

// The probes' loop: until `stop` (the queue drained) or `until`, /healthz every 5 ms, and every
// tenth probe a call to --other-path and a TCP round trip to `floor_echo`.
asio::awaitable<void> probe(const Options& options, tcp::endpoint endpoint,
                            tcp::endpoint floor_echo, Probes& probes, const std::atomic<bool>& stop,
                            Clock::time_point until = Clock::time_point::max()) {
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream health(executor);
  beast::tcp_stream other(executor);
  tcp::socket floor(executor);
  beast::flat_buffer health_buffer;
  beast::flat_buffer other_buffer;
  std::string error;
  if (!co_await connect(health, endpoint, error) || !co_await connect(other, endpoint, error)) {
    probes.error("probe: " + error);
    co_return;
  }
  beast::error_code ec;
  co_await floor.async_connect(floor_echo, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    probes.error("TCP floor: connect: " + ec.message());
    co_return;
  }
  floor.set_option(tcp::no_delay(true));
  std::array<char, 64> ping{};
  auto healthz = make_request(options, http::verb::get, "/healthz", "");
  auto call = make_request(options, http::verb::post, options.other_path, R"({"args": {}})");
  asio::steady_timer pause(executor);
  const auto ms_since = [](Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  };
  for (int i = 0; !stop && Clock::now() < until; ++i) {
    auto start = Clock::now();
    if (co_await exchange(health, health_buffer, healthz, error) != 200) {
      probes.error("/healthz: " + error);
      co_return;
    }
    probes.healthz_ms.push_back(ms_since(start));
    if (i % 10 == 0) {
      start = Clock::now();
      if (co_await exchange(other, other_buffer, call, error) != 200) {
        probes.error(options.other_path + ": " + error);
        co_return;
      }
      probes.other_ms.push_back(ms_since(start));
      start = Clock::now();
      co_await asio::async_write(floor, asio::buffer(ping),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (!ec)
        co_await asio::async_read(floor, asio::buffer(ping),
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        probes.error("TCP floor: " + ec.message());
        co_return;
      }
      probes.tcp_ms.push_back(ms_since(start));
    }
    pause.expires_after(kProbeInterval);
    co_await pause.async_wait(asio::use_awaitable);
  }
}

nlohmann::json quantiles(std::vector<double> values) {
  if (values.empty()) return nullptr;
  std::sort(values.begin(), values.end());
  const auto at = [&values](double fraction) {
    return values[static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1))];
  };
  return {{"count", values.size()},
          {"p50_ms", at(0.5)},
          {"p99_ms", at(0.99)},
          {"max_ms", values.back()}};
}

long rss_bytes(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
  }
  return -1;
}

// The soft open-file limit, raised to the hard one first.
long raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<long>(limit.rlim_cur);
}

std::optional<Options> parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--smoke") {
      options.idle = 200;
      options.queued = 50;
      options.baseline_seconds = 0.5;
      options.smoke = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "front_door_load: " << flag << " needs a value\n";
      return std::nullopt;
    }
    const std::string value = argv[++i];
    if (flag == "--port")
      options.port = std::stoi(value);
    else if (flag == "--token")
      options.token = value;
    else if (flag == "--idle")
      options.idle = std::stoi(value);
    else if (flag == "--queued")
      options.queued = std::stoi(value);
    else if (flag == "--queued-path")
      options.queued_path = value;
    else if (flag == "--queued-body")
      options.queued_body = value;
    else if (flag == "--other-path")
      options.other_path = value;
    else if (flag == "--streams")
      options.streams = std::stoi(value);
    else if (flag == "--stream-path")
      options.stream_path = value;
    else if (flag == "--stream-body")
      options.stream_body = value;
    else if (flag == "--baseline-seconds")
      options.baseline_seconds = std::stod(value);
    else if (flag == "--server-pid")
      options.server_pid = std::stoi(value);
    else {
      std::cerr << "front_door_load: unknown option " << flag << "\n";
      return std::nullopt;
    }
  }
  if (options.smoke) options.streams = std::min(options.streams, 20);
  if (options.port <= 0 || options.port > 65535 || options.idle < 0 || options.idle > kMaxIdle ||
      options.queued < 1 || options.queued > kMaxQueued || options.streams < 0 ||
      options.streams > kMaxQueued || !(options.baseline_seconds >= 0) ||
      options.baseline_seconds > 600) {
    std::cerr << "front_door_load: --port 1-65535 is required; --idle 0-" << kMaxIdle
              << ", --queued 1-" << kMaxQueued << ", --baseline-seconds 0-600\n";
    return std::nullopt;
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse(argc, argv);
  if (!parsed) return 2;
  const Options& options = *parsed;
  const long open_files = raise_file_limit();
  asio::io_context io;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(options.port));
  Tally tally;
  FloorEcho floor_echo;
  // The baseline: the same probes at the same pace before any load, for "its normal latency"
  // (a call every 50 ms finds its worker idle, unlike back-to-back calls).
  Probes baseline;
  {
    const std::atomic<bool> never = false;
    asio::io_context baseline_io;
    asio::co_spawn(
        baseline_io,
        probe(options, endpoint, floor_echo.endpoint(), baseline, never,
              Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(options.baseline_seconds))),
        asio::detached);
    baseline_io.run();
  }
  std::vector<std::unique_ptr<beast::tcp_stream>> kept;
  const long rss_before = options.server_pid ? rss_bytes(options.server_pid) : -1;
  // Connections open a few hundred at a time, so the listen backlog never overflows.
  for (int opened = 0; opened < options.idle;) {
    const int batch = std::min(500, options.idle - opened);
    for (int i = 0; i < batch; ++i) {
      asio::co_spawn(io, open_idle(options, endpoint, tally, kept), asio::detached);
    }
    io.run();
    io.restart();
    opened += batch;
  }
  const long rss_after = options.server_pid ? rss_bytes(options.server_pid) : -1;
  std::vector<std::shared_ptr<beast::tcp_stream>> streams;
  for (int opened = 0; opened < options.streams;) {
    const int batch = std::min(500, options.streams - opened);
    for (int i = 0; i < batch; ++i) {
      asio::co_spawn(io, live_stream(options, endpoint, tally, streams), asio::detached);
    }
    opened += batch;
    // Until this batch is live (or failed), then the next.
    while (tally.streams_settled < opened) {
      if (io.run_one() == 0) {
        io.restart();
        break;
      }
    }
  }
  const long rss_streams = options.server_pid ? rss_bytes(options.server_pid) : -1;
  std::atomic<bool> queue_drained = false;
  for (int i = 0; i < options.queued; ++i) {
    asio::co_spawn(io, queued_call(options, endpoint, tally, queue_drained, streams),
                   asio::detached);
  }
  Probes probes;
  {
    std::thread prober([&] {
      asio::io_context probe_io;
      asio::co_spawn(probe_io,
                     probe(options, endpoint, floor_echo.endpoint(), probes, queue_drained),
                     asio::detached);
      probe_io.run();
    });
    io.run();
    prober.join();
  }
  nlohmann::json report = {{"idle_connections", tally.idle_open},
                           {"idle_failed", tally.idle_failed},
                           {"queued_ok", tally.queued_ok},
                           {"queued_failed", tally.queued_failed},
                           {"baseline",
                            {{"healthz", quantiles(baseline.healthz_ms)},
                             {"other_bridge", quantiles(baseline.other_ms)},
                             {"tcp_floor", quantiles(baseline.tcp_ms)}}},
                           {"healthz", quantiles(probes.healthz_ms)},
                           {"other_bridge", quantiles(probes.other_ms)},
                           {"tcp_floor", quantiles(probes.tcp_ms)},
                           {"probe_errors", probes.errors},
                           {"first_error", !baseline.first_error.empty() ? baseline.first_error
                                           : tally.first_error.empty()   ? probes.first_error
                                                                         : tally.first_error},
                           {"streams_live", tally.streams_live},
                           {"streams_failed", tally.streams_failed},
                           {"stream_bytes", tally.stream_bytes},
                           {"client_open_files_limit", open_files}};
  if (rss_before > 0 && rss_after > 0 && tally.idle_open > 0) {
    report["server_rss_before"] = rss_before;
    report["server_rss_after_idle"] = rss_after;
    report["rss_per_idle_connection"] =
        static_cast<double>(rss_after - rss_before) / tally.idle_open;
  }
  if (rss_streams > 0 && options.streams > 0) report["server_rss_with_streams"] = rss_streams;
  std::cout << report.dump() << std::endl;
  const bool ok = tally.idle_failed == 0 && tally.queued_failed == 0 && probes.errors == 0 &&
                  baseline.errors == 0 && tally.streams_failed == 0;
  return ok ? 0 : 1;
}
