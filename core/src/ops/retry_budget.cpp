#include "mlbridge/ops/retry_budget.hpp"

#include <algorithm>

namespace mlbridge::ops {

RetryBudget::RetryBudget(const RetrySettings& settings)
    : capacity_(settings.budget),
      deposit_(settings.budget_percent / 100.0),
      tokens_(settings.budget) {}

void RetryBudget::deposit() {
  std::lock_guard lock(mutex_);
  tokens_ = std::min(capacity_, tokens_ + deposit_);
}

bool RetryBudget::withdraw() {
  std::lock_guard lock(mutex_);
  if (tokens_ < 1.0) {
    ++exhausted_;
    return false;
  }
  tokens_ -= 1.0;
  ++retries_;
  return true;
}

void RetryBudget::configure(const RetrySettings& settings) {
  std::lock_guard lock(mutex_);
  capacity_ = settings.budget;
  deposit_ = settings.budget_percent / 100.0;
  tokens_ = std::min(tokens_, capacity_);
}

RetryBudget::Snapshot RetryBudget::snapshot() const {
  std::lock_guard lock(mutex_);
  return {tokens_, retries_, exhausted_};
}

}  // namespace mlbridge::ops
