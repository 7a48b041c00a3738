#pragma once

/// @file
/// A latency histogram with fixed, Prometheus-style bucket bounds (seconds). Not thread-safe: the
/// owner updates it on its event loop and hands out copies.

#include <array>
#include <chrono>
#include <cstdint>

namespace mlbridge::telemetry {

class LatencyHistogram {
 public:
  /// Upper bounds of the buckets, in seconds; a last, implicit bucket is +Inf.
  static constexpr std::array<double, 14> kBounds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0};

  void record(std::chrono::nanoseconds duration);

  std::uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_seconds_; }
  /// Cumulative count of observations <= kBounds[i] (i < kBounds.size()), then the total.
  std::uint64_t cumulative(std::size_t bucket) const;
  /// An estimate of the q-quantile (0..1) in seconds, by linear interpolation inside a bucket.
  double quantile(double q) const;

 private:
  std::array<std::uint64_t, kBounds.size() + 1> buckets_{};
  std::uint64_t count_ = 0;
  double sum_seconds_ = 0;
};

}  // namespace mlbridge::telemetry
