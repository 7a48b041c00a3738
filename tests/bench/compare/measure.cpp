#include "measure.hpp"

#include <time.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>
#include <thread>

namespace mlbridge::bench {

json summarize_latencies(std::vector<double> ns) {
  if (ns.empty()) return {{"n", 0}};
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
    return ns[std::min(i, ns.size() - 1)] / 1000.0;
  };
  const double mean = std::accumulate(ns.begin(), ns.end(), 0.0) / static_cast<double>(ns.size());
  return {{"n", ns.size()},
          {"median_us", at(0.5)},
          {"p99_us", at(0.99)},
          {"p999_us", at(0.999)},
          {"mean_us", mean / 1000.0}};
}

json measure_window(const std::atomic<long>& completed, double warmup, double seconds,
                    const std::vector<std::pair<std::string, CpuClock>>& clocks) {
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  std::vector<std::chrono::nanoseconds> before;
  for (const auto& [name, clock] : clocks) before.push_back(clock());
  const long calls_before = completed.load();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const long calls = completed.load() - calls_before;
  const double elapsed = seconds_since(start);
  json out = {{"calls_per_s", static_cast<double>(calls) / elapsed}};
  for (std::size_t i = 0; i < clocks.size(); ++i) {
    const auto spent = clocks[i].second() - before[i];
    out[clocks[i].first + "_cpu_us_per_call"] =
        calls > 0 ? std::chrono::duration<double, std::micro>(spent).count() / calls : 0.0;
  }
  return out;
}

double rate_of(const std::atomic<long>& completed, double warmup, double seconds) {
  return measure_window(completed, warmup, seconds, {})["calls_per_s"].get<double>();
}

std::chrono::nanoseconds process_cpu_time() {
  timespec spent{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spent);
  return std::chrono::seconds{spent.tv_sec} + std::chrono::nanoseconds{spent.tv_nsec};
}

json memory_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  json out = json::object();
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    long long kib = 0;
    fields >> key >> kib;
    if (key == "Rss:") out["rss_kib"] = kib;
    if (key == "Pss:") out["pss_kib"] = kib;
  }
  return out;
}

}  // namespace mlbridge::bench
