#pragma once

// Splits a worker's stderr into lines, logs each one tagged with bridge and worker, and keeps the
// last lines for error reports, with the worker's secrets redacted from both. Loop-thread only.

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/telemetry/redactor.hpp"

namespace mlbridge::worker {

class StderrCollector {
 public:
  StderrCollector(std::string tag, std::size_t max_lines, telemetry::Redactor redactor = {})
      : tag_(std::move(tag)), max_lines_(max_lines), redactor_(std::move(redactor)) {}

  void feed(std::string_view bytes);
  /// Emits a final unterminated line, if any.
  void flush();
  std::vector<std::string> tail() const { return {lines_.begin(), lines_.end()}; }
  /// The last `n` lines joined with " | ", at most about 600 characters, for one-line errors.
  std::string summary(std::size_t n = 6) const;

 private:
  void emit(std::string line);

  std::string tag_;
  std::size_t max_lines_;
  telemetry::Redactor redactor_;
  std::string partial_;
  std::deque<std::string> lines_;
};

}  // namespace mlbridge::worker
