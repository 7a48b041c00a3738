#include "mlbridge/telemetry/histogram.hpp"

#include <algorithm>

namespace mlbridge::telemetry {

void LatencyHistogram::record(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  const auto it = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
  ++buckets_[static_cast<std::size_t>(it - kBounds.begin())];
  ++count_;
  sum_seconds_ += seconds;
}

std::uint64_t LatencyHistogram::cumulative(std::size_t bucket) const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bucket && i < buckets_.size(); ++i) total += buckets_[i];
  return total;
}

double LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const double rank = q * static_cast<double>(count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i] == 0) continue;
    if (static_cast<double>(seen + buckets_[i]) >= rank) {
      const double lower = i == 0 ? 0 : kBounds[i - 1];
      const double upper = i < kBounds.size() ? kBounds[i] : kBounds.back();
      const double within = (rank - static_cast<double>(seen)) / static_cast<double>(buckets_[i]);
      return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
    }
    seen += buckets_[i];
  }
  return kBounds.back();
}

}  // namespace mlbridge::telemetry
