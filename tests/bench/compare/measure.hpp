#pragma once

// Timing helpers of the comparison drivers (compare_bench, embed_bench): per-call latencies
// summarized as median / p99 / p99.9, and one result printed as a JSON line on stdout, which
// tests/bench/compare.py collects. Single-threaded helpers: call them from one thread.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mlbridge::bench {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Latencies in nanoseconds → {"n", "median_us", "p99_us", "p999_us", "mean_us"}.
json summarize_latencies(std::vector<double> ns);

/// Calls `one()` `warmup` times untimed, then until `seconds` passed (at least `min_calls`
/// times), timing each call. Returns the per-call times in nanoseconds.
template <class F>
std::vector<double> time_calls(F&& one, double seconds, int warmup = 100, int min_calls = 5) {
  for (int i = 0; i < warmup; ++i) one();
  std::vector<double> ns;
  ns.reserve(1 << 16);
  const auto start = Clock::now();
  while (static_cast<int>(ns.size()) < min_calls || seconds_since(start) < seconds) {
    const auto t0 = Clock::now();
    one();
    ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  return ns;
}

/// Lets `warmup` seconds pass, then returns how fast `completed` grows over the next `seconds`
/// (per second): the window of a closed-loop throughput measurement.
double rate_of(const std::atomic<long>& completed, double warmup, double seconds);

/// A CPU clock read at both ends of a measurement window (any thread may read it).
using CpuClock = std::function<std::chrono::nanoseconds()>;

/// The window of `rate_of`, also charging each clock's advance to the calls completed in it:
/// {"calls_per_s", "<name>_cpu_us_per_call" for each named clock}.
json measure_window(const std::atomic<long>& completed, double warmup, double seconds,
                    const std::vector<std::pair<std::string, CpuClock>>& clocks);

/// CPU time (user + system) of this whole process so far.
std::chrono::nanoseconds process_cpu_time();

/// Prints one result line: `fields` plus {"kind": kind}.
inline void emit(const std::string& kind, json fields) {
  fields["kind"] = kind;
  std::printf("%s\n", fields.dump().c_str());
  std::fflush(stdout);
}

/// Times a payload echo with `one()` and prints its "payload" line. Payloads from 8 MiB up take
/// up to seconds per echo: no untimed call, and one timed call is enough.
template <class F>
void emit_payload_echo(F&& one, double seconds, const std::string& system, const std::string& codec,
                       const std::string& payload, std::size_t size) {
  const bool large = size >= (8u << 20);
  json fields = summarize_latencies(time_calls(one, seconds, large ? 0 : 1, large ? 1 : 3));
  fields["system"] = system;
  fields["codec"] = codec;
  fields["payload"] = payload;
  fields["bytes"] = size;
  emit("payload", std::move(fields));
}

/// RSS and PSS of a process in KiB, from /proc/<pid>/smaps_rollup ({} when unreadable).
json memory_of(int pid);

}  // namespace mlbridge::bench
