#include "serve_command.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "logging.hpp"
#include "mlbridge/host.hpp"
#include "mlbridge/server/http_server.hpp"

namespace mlbridge::cli {
namespace {

struct ServeArgs {
  std::string config = "config/mlbridge.yaml";
  std::string listen;
  std::string log_level;
  std::size_t threads = 0;  // server::ServerOptions::threads (0: the number of cores)
  std::size_t max_connections = server::ServerOptions{}.max_connections;
  std::int64_t header_timeout_ms = server::ServerOptions{}.header_timeout.count();
  std::int64_t idle_timeout_ms = server::ServerOptions{}.idle_timeout.count();
  std::int64_t body_timeout_ms = server::ServerOptions{}.body_timeout.count();
  std::size_t max_stream_buffer_bytes = server::ServerOptions{}.max_stream_buffer_bytes;
  bool allow_unauthenticated_remote = false;
  // After SIGTERM, /readyz answers 503 for this long while requests are still served, so that a
  // load balancer's health check takes the host out before it stops (0: stop at once).
  std::int64_t drain_grace_ms = 0;
};

// The bearer token named by host.auth_token_env: "" when no variable is named. A named but
// unset variable is an error: starting without the protection the file asks for is worse.
Result<std::string> auth_token(const config::HostConfig& config) {
  if (config.auth_token_env.empty()) return std::string();
  const char* token = std::getenv(config.auth_token_env.c_str());
  if (token == nullptr || *token == '\0') {
    return fail(ErrorCategory::kInvalidConfiguration,
                "host.auth_token_env names " + config.auth_token_env +
                    ", which is not set: export it (the token clients send as 'Authorization: "
                    "Bearer <token>') or remove auth_token_env");
  }
  return std::string(token);
}

// Waits out the drain grace: returns early when SIGINT or SIGTERM arrives again (the operator
// insists); a SIGHUP meanwhile is logged and ignored, since a reload of a host on its way out
// helps nobody. Signals stay blocked, so they only arrive here.
void wait_drain_grace(const sigset_t& stop_signals, std::chrono::milliseconds grace) {
  const auto until = std::chrono::steady_clock::now() + grace;
  for (auto left = grace; left.count() > 0;
       left = std::chrono::duration_cast<std::chrono::milliseconds>(
           until - std::chrono::steady_clock::now())) {
    timespec timeout{};
    timeout.tv_sec = static_cast<std::time_t>(left.count() / 1000);
    timeout.tv_nsec = static_cast<long>((left.count() % 1000) * 1'000'000);
    const int signal_number = sigtimedwait(&stop_signals, nullptr, &timeout);
    if (signal_number == SIGINT || signal_number == SIGTERM) {
      spdlog::info("received {} during the drain grace: stopping now",
                   signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
      return;
    }
    if (signal_number == SIGHUP) {
      spdlog::info("received SIGHUP during the drain grace: ignored (the server is stopping)");
    } else if (signal_number < 0 && errno != EAGAIN && errno != EINTR) {
      return;
    }
  }
}

int run_serve(const ServeArgs& args) {
  // Before any thread exists, so that every thread inherits the mask and sigwait() below is the
  // only place these signals arrive.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reload the YAML file
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto loaded = config::load_host_config(args.config);
  if (!loaded) {
    std::cerr << "error: " << loaded.error().describe() << "\n";
    return 2;
  }
  // The connection threads share the cores with the event loop: past a call per core in flight,
  // a polling loop takes the CPU they need (config::HostConfig::loop_spin_max_calls).
  if (!loaded->loop_spin_max_calls) {
    loaded->loop_spin_max_calls =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto host = Host::from_config(std::move(*loaded));
  const auto& config = host->config();
  if (auto logging = configure_logging(args.log_level.empty() ? config.log_level : args.log_level,
                                       config.log_format);
      !logging) {
    std::cerr << "error: " << logging.error().describe() << "\n";
    return 2;
  }
  if (config.loop_spin_us > 0) {
    const int most = config.loop_spin_max_calls.value_or(0);
    spdlog::info(
        "the event loop polls {} us for more work before it sleeps, {} (host.loop_spin_us, "
        "host.loop_spin_max_calls)",
        config.loop_spin_us,
        most == 0 ? std::string("at any load")
                  : "while at most " + std::to_string(most) + " calls are in flight");
  }
  auto token = auth_token(config);
  if (!token) {
    std::cerr << "error: " << token.error().describe() << "\n";
    return 2;
  }
  server::ServerOptions options;
  options.listen = args.listen.empty() ? config.listen : args.listen;
  options.auth_token = *token;
  options.max_body_bytes = config.max_body_bytes;
  options.allowed_origins = config.allowed_origins;
  options.allowed_hosts = config.allowed_hosts;
  options.allow_unauthenticated_remote =
      args.allow_unauthenticated_remote || config.allow_unauthenticated_remote;
  options.threads = args.threads;
  options.max_connections = args.max_connections;
  options.header_timeout = std::chrono::milliseconds(args.header_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(args.idle_timeout_ms);
  options.body_timeout = std::chrono::milliseconds(args.body_timeout_ms);
  options.max_stream_buffer_bytes = args.max_stream_buffer_bytes;

  if (auto address = server::check_listen_address(options); !address) {
    std::cerr << "error: " << address.error().describe() << "\n";
    return 2;
  }
  if (auto registration = server::check_runtime_registration(options, config); !registration) {
    std::cerr << "error: " << registration.error().describe() << "\n";
    return 2;
  }

  spdlog::info("starting {} bridge(s) from {}", config.bridges.size(), args.config);
  if (auto started = host->start(); !started) {
    std::cerr << "error: " << started.error().describe() << "\n";
    host->shutdown();
    return 1;
  }
  server::HttpServer http(*host, options);
  if (auto listening = http.start(); !listening) {
    std::cerr << "error: " << listening.error().describe() << "\n";
    host->shutdown();
    return 1;
  }
  const auto colon = options.listen.rfind(':');
  std::cout << "mlbridge serving on http://" << options.listen.substr(0, colon) << ":"
            << http.port() << (token->empty() ? "" : " (bearer token required)") << std::endl;

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP) {
    // The signal is only recorded by sigwait; the reload runs here, on the main thread, while
    // requests go on being served.
    spdlog::info("received SIGHUP: reloading {}", args.config);
    auto report = host->reload(args.config);
    if (!report) {
      spdlog::error("reload of {} failed; nothing changed: {}", args.config,
                    report.error().describe());
    }
  }
  spdlog::info("received {}: draining", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  http.begin_drain();
  if (signal_number == SIGTERM && args.drain_grace_ms > 0) {
    // Only SIGTERM (what orchestrators send) waits: an operator's Ctrl-C stops at once.
    spdlog::info("/readyz answers 503 now; still serving for the drain grace of {} ms",
                 args.drain_grace_ms);
    wait_drain_grace(stop_signals, std::chrono::milliseconds(args.drain_grace_ms));
  }
  // Both at once: the server stops accepting and waits for the requests in progress, while the
  // host's drain lets their calls finish within each bridge's shutdown_ms and then cancels
  // them, so a long call or an open stream cannot hold the exit back.
  std::thread stop_http([&http] { http.stop(); });
  host->shutdown();
  stop_http.join();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ServeArgs>();
  auto* serve = app.add_subcommand(
      "serve", "Run the deployment's bridges behind the HTTP API until SIGTERM or SIGINT");
  serve->add_option("--config", args->config, "Deployment YAML")->capture_default_str();
  serve->add_option("--listen", args->listen,
                    "HOST:PORT to listen on (default: host.listen; port 0 picks a free one)");
  serve
      ->add_option("--threads", args->threads,
                   "I/O threads serving every connection (0: one per core); connections cost "
                   "no thread")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  serve
      ->add_option("--max-connections", args->max_connections,
                   "Open connections at most; more are answered 503 (also bounded by the "
                   "open-file limit, which serve raises to its hard limit)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  serve
      ->add_option("--header-timeout-ms", args->header_timeout_ms,
                   "A request's line and headers must arrive within this time from its first "
                   "byte, or the connection closes (slow clients cost no thread)")
      ->capture_default_str()
      ->check(CLI::Range(100, 3'600'000));
  serve
      ->add_option("--body-timeout-ms", args->body_timeout_ms,
                   "A request's body must arrive within this time after its headers")
      ->capture_default_str()
      ->check(CLI::Range(100, 3'600'000));
  serve
      ->add_option("--idle-timeout-ms", args->idle_timeout_ms,
                   "A kept-alive connection closes after this long without a request")
      ->capture_default_str()
      ->check(CLI::Range(100, 86'400'000));
  serve
      ->add_option("--max-stream-buffer-bytes", args->max_stream_buffer_bytes,
                   "Unsent bytes of one event stream; a client that reads slower has its call "
                   "cancelled")
      ->capture_default_str()
      ->check(CLI::Range(4096, 1 << 30));
  serve
      ->add_option("--drain-grace-ms", args->drain_grace_ms,
                   "On SIGTERM, /readyz answers 503 for this long while requests are still "
                   "served (a load balancer's health check takes the host out), then the server "
                   "stops; a second SIGTERM or SIGINT stops it at once (0: no grace)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  serve->add_flag("--allow-unauthenticated-remote", args->allow_unauthenticated_remote,
                  "Serve a non-loopback address without a bearer token (default: refused; "
                  "host.allow_unauthenticated_remote)");
  serve->add_option("--log-level", args->log_level,
                    "trace, debug, info, warn, error or off (default: host.log_level)");
  serve->callback([args, &exit_code] { exit_code = run_serve(*args); });
}

}  // namespace mlbridge::cli
