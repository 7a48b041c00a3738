#include "measure.hpp"

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

double rate_of(const std::atomic<long>& completed, double warmup, double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  const long before = completed.load();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const long after = completed.load();
  return static_cast<double>(after - before) / seconds_since(start);
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
