#pragma once

// The client side of the chaos test: threads that call the host one call at a time, mixing fast,
// slow, streaming, session-bound and failing commands, each with the result it must return.
// start() and stop_and_join() from one controlling thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "call_tracker.hpp"
#include "mlbridge/host.hpp"

namespace mlbridge::chaos {

class LoadDriver {
 public:
  LoadDriver(Host& host, CallTracker& tracker, std::vector<std::string> bridges, std::uint64_t seed,
             int threads, std::chrono::milliseconds grace);
  ~LoadDriver();

  void start();
  /// Lets every thread finish its call in flight, then joins them.
  void stop_and_join();

 private:
  struct Session;
  void run(int index);
  CallSpec next_call(std::mt19937_64& rng, Session& session, int index);
  void after(const CallTracker::Call& call, Session& session);
  void renew(Session& session, std::mt19937_64& rng, int index);

  Host& host_;
  CallTracker& tracker_;
  const std::vector<std::string> bridges_;
  const std::uint64_t seed_;
  const int threads_;
  const std::chrono::milliseconds grace_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace mlbridge::chaos
