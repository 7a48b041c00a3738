// llm_load: the HTTP load client of the LLM-bound benchmark (tests/bench/llm/run.py).
//
// N callers, each on its own keep-alive connection, POST in a closed loop for a fixed time
// and record each call's latency. One event loop (Boost.Asio + Beast, C++20 coroutines) on
// one thread drives every caller, so the client costs little CPU next to the servers it
// measures, and 2,048 callers are 2,048 coroutines, not 2,048 threads. The same client
// measures mlbridge serve, FastAPI + uvicorn and the mock LLM itself.
//
//   llm_load --port 8787 --path /v1/bridges/dspy/commands/execute_program
//            --bodies bodies.txt --callers 512 --seconds 20 --warmup 5
//
// --bodies names a file of request bodies, one per line: caller i sends line i % lines (a
// session per caller, for instance); --body gives one body for every caller instead.
// Prints one JSON object on stdout: calls/s over the measured window, p50/p90/p99/max
// latency of the calls that ended in it, errors (non-2xx answers, broken connections,
// timeouts) and the first error's text. Loopback only; bounded in callers and time.

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxCallers = 10000;
constexpr double kMaxSeconds = 3600;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
  std::vector<std::string> bodies;
  int callers = 1;
  double seconds = 10;
  double warmup = 2;
  double timeout_s = 120;
};

/// What every caller records; one thread touches it (the event loop), so no locks.
struct Tally {
  Clock::time_point measure_from;
  Clock::time_point measure_until;
  std::vector<double> latencies_ms;  ///< calls that ended inside the window
  std::int64_t errors = 0;           ///< inside the window
  std::int64_t errors_total = 0;
  std::int64_t calls_total = 0;
  std::map<int, std::int64_t> statuses;
  std::string first_error;

  void error(const std::string& what, Clock::time_point at) {
    ++errors_total;
    if (at >= measure_from && at < measure_until) ++errors;
    if (first_error.empty()) first_error = what;
  }
};

asio::awaitable<void> caller(const Options& options, const std::string& body, Tally& tally) {
  auto executor = co_await asio::this_coro::executor;
  const tcp::endpoint endpoint(asio::ip::make_address(options.host),
                               static_cast<unsigned short>(options.port));
  http::request<http::string_body> request{http::verb::post, options.path, 11};
  request.set(http::field::host, options.host + ":" + std::to_string(options.port));
  request.set(http::field::content_type, "application/json");
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.timeout_s));

  while (Clock::now() < tally.measure_until) {
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);
    beast::error_code connect_error;
    co_await stream.async_connect(endpoint,
                                  asio::redirect_error(asio::use_awaitable, connect_error));
    if (connect_error) {
      tally.error("connect: " + connect_error.message(), Clock::now());
      asio::steady_timer pause(executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    stream.socket().set_option(tcp::no_delay(true));
    beast::flat_buffer buffer;
    bool open = true;
    while (open && Clock::now() < tally.measure_until) {
      const auto start = Clock::now();
      stream.expires_after(timeout);
      beast::error_code read_error;
      co_await http::async_write(stream, request,
                                 asio::redirect_error(asio::use_awaitable, read_error));
      http::response<http::string_body> answer;
      if (!read_error) {
        co_await http::async_read(stream, buffer, answer,
                                  asio::redirect_error(asio::use_awaitable, read_error));
      }
      const auto end = Clock::now();
      ++tally.calls_total;
      if (read_error) {
        tally.error("connection: " + read_error.message(), end);
        open = false;
        break;
      }
      const int status = static_cast<int>(answer.result_int());
      ++tally.statuses[status];
      if (status < 200 || status >= 300) {
        tally.error("HTTP " + std::to_string(status) + ": " + answer.body().substr(0, 300), end);
      } else if (end >= tally.measure_from && end < tally.measure_until) {
        tally.latencies_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      }
      open = answer.keep_alive();
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
}

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

std::optional<Options> parse(int argc, char** argv) {
  Options options;
  std::string bodies_file;
  std::optional<std::string> body;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "llm_load: " << flag << " needs a value\n";
      return std::nullopt;
    }
    const std::string value = argv[++i];
    if (flag == "--host") options.host = value;
    else if (flag == "--port") options.port = std::stoi(value);
    else if (flag == "--path") options.path = value;
    else if (flag == "--body") body = value;
    else if (flag == "--bodies") bodies_file = value;
    else if (flag == "--callers") options.callers = std::stoi(value);
    else if (flag == "--seconds") options.seconds = std::stod(value);
    else if (flag == "--warmup") options.warmup = std::stod(value);
    else if (flag == "--timeout") options.timeout_s = std::stod(value);
    else {
      std::cerr << "llm_load: unknown option " << flag << "\n";
      return std::nullopt;
    }
  }
  if (body) options.bodies.push_back(*body);
  if (!bodies_file.empty()) {
    std::ifstream in(bodies_file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) options.bodies.push_back(line);
    }
    if (options.bodies.empty()) {
      std::cerr << "llm_load: no bodies in " << bodies_file << "\n";
      return std::nullopt;
    }
  }
  if (options.bodies.empty()) options.bodies.push_back("{}");
  if (options.port <= 0 || options.port > 65535) {
    std::cerr << "llm_load: --port 1-65535 is required\n";
    return std::nullopt;
  }
  if (options.host.rfind("127.", 0) != 0) {
    std::cerr << "llm_load: loopback only (--host 127.x.x.x)\n";
    return std::nullopt;
  }
  if (options.callers < 1 || options.callers > kMaxCallers || options.seconds <= 0 ||
      options.seconds > kMaxSeconds || options.warmup < 0 || options.warmup > kMaxSeconds) {
    std::cerr << "llm_load: --callers 1-" << kMaxCallers << ", --seconds and --warmup up to "
              << kMaxSeconds << "\n";
    return std::nullopt;
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse(argc, argv);
  if (!parsed) return 2;
  const Options& options = *parsed;

  asio::io_context io(1);
  Tally tally;
  const auto began = Clock::now();
  const auto to_duration = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  tally.measure_from = began + to_duration(options.warmup);
  tally.measure_until = tally.measure_from + to_duration(options.seconds);
  // Calls still running at the end finish (they do not count); when the last caller has
  // returned, the hard bound is cancelled and io.run() returns. The bound stops a server
  // that never answers.
  asio::steady_timer hard_stop(io, tally.measure_until + to_duration(options.timeout_s + 5));
  hard_stop.async_wait([&](beast::error_code error) {
    if (!error) io.stop();
  });
  int running = options.callers;
  for (int i = 0; i < options.callers; ++i) {
    const std::string& body = options.bodies[static_cast<std::size_t>(i) % options.bodies.size()];
    asio::co_spawn(io, caller(options, body, tally), [&](std::exception_ptr failure) {
      if (failure && tally.first_error.empty()) tally.first_error = "caller stopped by an exception";
      if (--running == 0) hard_stop.cancel();
    });
  }
  io.run();
  const double wall = std::chrono::duration<double>(Clock::now() - began).count();

  std::sort(tally.latencies_ms.begin(), tally.latencies_ms.end());
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [status, count] : tally.statuses) statuses[std::to_string(status)] = count;
  const nlohmann::json out = {
      {"callers", options.callers},
      {"seconds", options.seconds},
      {"warmup_s", options.warmup},
      {"calls", tally.latencies_ms.size()},
      {"calls_per_s", static_cast<double>(tally.latencies_ms.size()) / options.seconds},
      {"errors", tally.errors},
      {"errors_total", tally.errors_total},
      {"calls_total", tally.calls_total},
      {"p50_ms", percentile(tally.latencies_ms, 0.50)},
      {"p90_ms", percentile(tally.latencies_ms, 0.90)},
      {"p99_ms", percentile(tally.latencies_ms, 0.99)},
      {"max_ms", tally.latencies_ms.empty() ? 0.0 : tally.latencies_ms.back()},
      {"statuses", statuses},
      {"first_error", tally.first_error},
      {"wall_s", wall},
  };
  std::cout << out.dump() << std::endl;
  return 0;
}
