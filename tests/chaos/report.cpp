#include "report.hpp"

#include <algorithm>
#include <map>

namespace mlbridge::chaos {

bool Report::passed() const {
  return violations.total() == 0 && pools_recovered && process_problems.empty() &&
         fd_growth <= static_cast<long>(fd_allowance) &&
         fd_growth_after_host <= static_cast<long>(fd_allowance) &&
         rss_growth <= static_cast<long long>(rss_allowance);
}

void print(std::ostream& out, const Report& report, const CallTracker& tracker,
           const FaultLog& faults) {
  const auto fault_counts = faults.counts();
  out << "chaos: faults: " << faults.total() << " (";
  bool first = true;
  for (FaultKind kind : kAllFaultKinds) {
    out << (first ? "" : ", ") << to_string(kind) << " "
        << (fault_counts.count(kind) ? fault_counts.at(kind) : 0);
    first = false;
  }
  out << ")\n";

  std::map<std::string, std::size_t> totals;
  out << "chaos: calls: " << tracker.calls() << "\n";
  for (const auto& [kind, outcomes] : tracker.outcomes()) {
    std::size_t sum = 0;
    for (const auto& [label, n] : outcomes) sum += n;
    out << "  " << to_string(kind) << ": " << sum << " (";
    first = true;
    for (const auto& [label, n] : outcomes) {
      out << (first ? "" : ", ") << label << " " << n;
      totals[label] += n;
      first = false;
    }
    out << ")\n";
  }
  out << "chaos: outcomes:";
  for (const auto& [label, n] : totals) out << " " << label << " " << n << ";";
  out << "\n";

  if (!report.async_bridge.empty()) {
    const auto crashed = tracker.crashed_calls_per_worker();
    std::size_t most_crashed = 0;
    std::size_t all_crashed = 0;
    for (const auto& [worker, n] : crashed) {
      most_crashed = std::max(most_crashed, n);
      all_crashed += n;
    }
    out << "chaos: async bridge " << report.async_bridge << ": " << report.async_target_in_flight
        << " calls kept in flight (peak " << report.async_peak_in_flight << "), "
        << report.async_cancels_sent << " cancels sent; most calls held by a worker at its "
        << "SIGKILL " << faults.most_calls_held(report.async_bridge, FaultKind::kKill)
        << ", at its SIGSTOP " << faults.most_calls_held(report.async_bridge, FaultKind::kStop)
        << "; " << crashed.size() << " worker deaths answered " << all_crashed
        << " calls worker_crashed (most by one death: " << most_crashed << "); " << report.condemned
        << " workers condemned for an ignored cancel, " << report.unexplained_condemnations.size()
        << " of them neither stopped nor spinning\n";
    for (const auto& c : report.unexplained_condemnations) out << "  condemned: " << c << "\n";
  }

  const Violations& v = report.violations;
  out << "chaos: lost " << v.lost << ", doubled " << v.doubled << ", hangs " << v.hangs
      << ", wrong results " << v.wrong_results << ", unexplained failures " << v.unexplained
      << ", session calls out of order " << v.out_of_order
      << " (successes of cancelled or deadline calls late during a machine stall: "
      << v.late_in_stall << ")\n";
  out << "chaos: leaked processes " << report.process_problems.size()
      << ", pools back to full size: " << (report.pools_recovered ? "yes" : "NO") << ", fd growth "
      << report.fd_growth << " (after the host: " << report.fd_growth_after_host << ", allowed "
      << report.fd_allowance << "), host RSS growth " << report.rss_growth / (1024 * 1024)
      << " MiB (allowed "
      << (report.rss_allowance > (1ull << 50) ? std::string("any, under a sanitizer")
                                              : std::to_string(report.rss_allowance >> 20))
      << ")\n";
  for (const auto& problem : report.process_problems) out << "  process: " << problem << "\n";
  for (const auto& pool : report.pool_problems) out << "  pool: " << pool << "\n";
  for (const auto& example : tracker.examples()) out << "  violation: " << example << "\n";
  out << "chaos: " << (report.passed() ? "PASS" : "FAIL") << std::endl;
}

}  // namespace mlbridge::chaos
