#include "host_figures.hpp"

namespace mlbridge::server {

HostFiguresPtr HostFiguresCache::take() const {
  auto figures = std::make_shared<HostFigures>();
  figures->health = host_.health();
  figures->snapshot = host_.snapshot();
  figures->taken = std::chrono::steady_clock::now();
  return figures;
}

void HostFiguresCache::start() {
  auto first = take();
  std::lock_guard lock(mutex_);
  if (running_ || stopping_) return;
  latest_ = std::move(first);
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void HostFiguresCache::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::vector<std::function<void(HostFiguresPtr)>> waiting;
  HostFiguresPtr latest;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    waiting.swap(waiting_);
    latest = latest_;
  }
  for (auto& use : waiting) use(latest);
}

HostFiguresPtr HostFiguresCache::latest() {
  {
    std::lock_guard lock(mutex_);
    if (latest_) return latest_;
  }
  auto figures = take();
  std::lock_guard lock(mutex_);
  if (!latest_) latest_ = figures;
  return latest_;
}

void HostFiguresCache::when_fresh(std::function<void(HostFiguresPtr)> use) {
  {
    std::lock_guard lock(mutex_);
    if (running_ && !stopping_) {
      waiting_.push_back(std::move(use));
      wake_.notify_all();
      return;
    }
  }
  auto figures = take();
  {
    std::lock_guard lock(mutex_);
    latest_ = figures;
  }
  use(std::move(figures));
}

void HostFiguresCache::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kRefreshEvery, [this] { return stopping_ || !waiting_.empty(); });
    if (stopping_) break;
    // Those who asked before this reading starts get it; later ones wait for the next.
    std::vector<std::function<void(HostFiguresPtr)>> waiting;
    waiting.swap(waiting_);
    lock.unlock();
    auto figures = take();
    for (auto& use : waiting) use(figures);
    lock.lock();
    latest_ = std::move(figures);
  }
}

}  // namespace mlbridge::server
