// The chaos test: many client threads call a host with two bridges, and an async load keeps many
// calls in flight on a third whose workers hold up to 256 calls each, while a chaos thread kills,
// stops and upsets its workers; every call must complete exactly once, before its deadline plus
// a grace, with the right result or an error that matches what was done to it, and the calls of
// a session in order; afterwards the pools are back to full size and no process, file descriptor
// or memory has leaked.
//
// Usage: chaos_test [--duration SECONDS] [--seed N] [--threads N] [--async-calls N]
//                   [--async-concurrency N]
// (--async-calls 0: no concurrent bridge, the run of before; --async-concurrency: the concurrent
// bridge's pool.max_concurrency, 256 by default, 1 for the same load on one-call workers.)
// Prints the seed first (rerun with it to replay the same choices) and counts per outcome last;
// exits 0 when every invariant held.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "async_load.hpp"
#include "call_tracker.hpp"
#include "chaos_host.hpp"
#include "chaos_monkey.hpp"
#include "condemnation_log.hpp"
#include "load_driver.hpp"
#include "process_census.hpp"
#include "report.hpp"
#include "stall_watch.hpp"

namespace {

using namespace mlbridge;
using namespace mlbridge::chaos;
using std::chrono::seconds;

// A sanitizer build: GCC defines __SANITIZE_*__, clang (the asan and tsan presets) answers
// __has_feature instead.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MLBRIDGE_CHAOS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MLBRIDGE_CHAOS_SANITIZED 1
#endif
#endif

// Calls the async load keeps in flight on the concurrent bridge (two workers, 256 slots each).
// Fewer under a sanitizer, where the host's every call costs several times more CPU.
#ifdef MLBRIDGE_CHAOS_SANITIZED
constexpr int kDefaultAsyncCalls = 64;
#else
constexpr int kDefaultAsyncCalls = 200;
#endif

struct Options {
  int duration_s = 60;
  std::uint64_t seed = std::random_device{}();
  int threads = 8;
  int async_calls = kDefaultAsyncCalls;
  int async_concurrency = kAsyncConcurrency;
};

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    if (arg == "--duration") {
      options.duration_s = std::atoi(value);
    } else if (arg == "--seed") {
      options.seed = std::strtoull(value, nullptr, 10);
    } else if (arg == "--threads") {
      options.threads = std::atoi(value);
    } else if (arg == "--async-calls") {
      options.async_calls = std::atoi(value);
    } else if (arg == "--async-concurrency") {
      options.async_concurrency = std::atoi(value);
    } else {
      return false;
    }
  }
  return options.duration_s > 0 && options.threads > 0 && options.async_calls >= 0 &&
         options.async_concurrency > 0;
}

// Memory and descriptors may grow this much over the run (caches, allocator arenas), no more.
// Under a sanitizer RSS says nothing (ASan keeps freed memory in quarantine; LeakSanitizer checks
// leaks there instead), so it is reported but not judged.
#ifdef MLBRIDGE_CHAOS_SANITIZED
constexpr std::uint64_t kRssAllowance = ~0ull >> 1;
#else
constexpr std::uint64_t kRssAllowance = 64ull * 1024 * 1024;
#endif
constexpr std::size_t kFdAllowance = 4;
// How long past its deadline a call may complete: the cancel grace plus a wide margin for a
// loaded machine (an invariant about answers, not about speed).
constexpr std::chrono::milliseconds kGrace = kCancelGrace + seconds(15);

}  // namespace

int main(int argc, char** argv) {
  // The host's warnings (every kill is one) go to stderr; the report goes to stdout.
  // The condemnation log hears every warning too (workers condemned for an ignored cancel).
  auto condemnations = std::make_shared<CondemnationLog>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "mlbridge", spdlog::sinks_init_list{std::make_shared<spdlog::sinks::stderr_color_sink_mt>(),
                                          condemnations}));
  spdlog::set_level(spdlog::level::warn);
  Options options;
  if (!parse(argc, argv, options)) {
    std::cerr << "usage: chaos_test [--duration SECONDS] [--seed N] [--threads N]"
                 " [--async-calls N] [--async-concurrency N]\n";
    return 2;
  }
  std::cout << "chaos: seed " << options.seed << ", " << options.duration_s << " s, "
            << options.threads << " client threads, " << options.async_calls
            << " async calls in flight (replay: chaos_test --seed " << options.seed
            << " --duration " << options.duration_s << " --threads " << options.threads
            << " --async-calls " << options.async_calls << " --async-concurrency "
            << options.async_concurrency << ")" << std::endl;

  const std::string marker = "chaos" + std::to_string(::getpid()) + "_";
  const auto dir = std::filesystem::temp_directory_path() / ("mlbridge-" + marker);
  std::filesystem::create_directories(dir);
  const bool with_async = options.async_calls > 0;
  std::ofstream(dir / "chaos.yaml")
      << chaos_yaml(marker, with_async ? options.async_concurrency : 0);

  Report report;
  if (with_async) report.async_bridge = async_bridge_name(marker);
  const std::size_t fds_before_host = testing::open_fd_count();
  FaultLog faults;
  CallTracker tracker(
      faults, kGrace,
      with_async ? std::set<std::string>{report.async_bridge} : std::set<std::string>{});
  {
    auto loaded = Host::from_file((dir / "chaos.yaml").string());
    if (!loaded) {
      std::cerr << "chaos: the host did not load: " << loaded.error().describe() << "\n";
      return 1;
    }
    std::unique_ptr<Host> host = std::move(*loaded);
    if (auto started = host->start(); !started) {
      std::cerr << "chaos: the host did not start: " << started.error().describe() << "\n";
      return 1;
    }
    if (!wait_for_full_pools(*host, seconds(120))) {
      std::cerr << "chaos: the pools never reached full size before the run\n";
      return 1;
    }
    const std::size_t fds_full = testing::open_fd_count();

    // The client threads call the one-call bridges; the async load the concurrent one; the chaos
    // thread upsets them all.
    LoadDriver load(*host, tracker, bridge_names(marker), options.seed, options.threads, kGrace);
    AsyncLoad async_load(*host, tracker, report.async_bridge, options.seed, options.async_calls);
    ChaosMonkey monkey(*host, tracker, faults, bridge_names(marker, with_async), options.seed,
                       report.async_bridge);
    const auto begin = Clock::now();
    const auto end = begin + seconds(options.duration_s);
    const auto warm = begin + std::min(seconds(10), seconds(options.duration_s) / 5);
    StallWatch stalls(faults);
    stalls.start();
    load.start();
    if (with_async) async_load.start();
    monkey.start();
    std::uint64_t rss_warm = 0;
    auto next_progress = begin + seconds(30);
    while (Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (rss_warm == 0 && Clock::now() >= warm) rss_warm = testing::own_rss_bytes();
      if (Clock::now() >= next_progress) {
        next_progress += seconds(30);
        std::cout << "chaos: " << std::chrono::duration_cast<seconds>(Clock::now() - begin).count()
                  << " s, " << tracker.calls() << " calls, " << faults.total() << " faults"
                  << std::endl;
      }
    }
    monkey.stop_and_join();
    load.stop_and_join();
    async_load.stop_and_join();
    report.async_target_in_flight = options.async_calls;
    report.async_peak_in_flight = async_load.peak_in_flight();
    report.async_cancels_sent = async_load.cancels_sent();

    // Every call must now complete; command faults sent last may still be running.
    const auto drained_by = Clock::now() + seconds(60);
    while (tracker.in_flight() > 0 && Clock::now() < drained_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    report.pools_recovered = wait_for_full_pools(*host, seconds(120), &report.pool_problems);
    report.process_problems = census_with_host(*host, marker);
    report.fd_growth = static_cast<long>(testing::open_fd_count()) - static_cast<long>(fds_full);
    report.rss_growth =
        static_cast<long long>(testing::own_rss_bytes()) - static_cast<long long>(rss_warm);
    // A second completion would come soon after the first; give it the chance to show.
    std::this_thread::sleep_for(seconds(2));
    stalls.stop_and_join();
    report.violations = tracker.judge();
    report.condemned = condemnations->all().size();
    for (const auto& c : condemnations->unexplained(faults)) {
      report.unexplained_condemnations.push_back("worker " + c.worker_id + " ('" + c.command +
                                                 "' ignored its cancel)");
    }
    host.reset();
  }
  for (auto& problem : census_without_host(marker)) report.process_problems.push_back(problem);
  report.fd_growth_after_host =
      static_cast<long>(testing::open_fd_count()) - static_cast<long>(fds_before_host);
  std::filesystem::remove_all(dir);

  report.rss_allowance = kRssAllowance;
  report.fd_allowance = kFdAllowance;
  print(std::cout, report, tracker, faults);
  return report.passed() ? 0 : 1;
}
