#pragma once

/// @file
/// The host's event loop: one Boost.Asio io_context run by one dedicated thread. Workers, pools
/// and timers live on it; nothing on it ever blocks on a worker. The EventLoop object is owned by
/// whoever creates it (the Host, a test, the CLI); any thread may post to it.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <thread>
#include <type_traits>

namespace mlbridge::runtime {

class EventLoop {
 public:
  /// How long the loop keeps polling for work after its last handler before it sleeps in
  /// epoll_wait (host.loop_spin_us). Waking a sleeping thread costs tens of microseconds on a
  /// virtual machine (the vCPU halts and must be resumed), more than a worker's no-op round trip,
  /// so a loop that sleeps between calls pays it on every call. Polling for a little longer than
  /// a fast call takes keeps calls flowing without it; an idle loop still sleeps. The price is
  /// CPU: while calls arrive more often than this, the loop thread keeps one core busy.
  static constexpr std::chrono::microseconds kDefaultSpin{100};

  /// Whether polling is worth its CPU now; asked each time a poll found nothing to run, on the
  /// loop thread, so it must be cheap and must not block. Polling pays while the next event is
  /// the answer to one of a few calls: waking would then cost more than the call. With many calls
  /// in flight their answers come in batches, one wake-up serves a batch, and a polling thread
  /// only takes the CPU that the workers and the connections need (measured through HTTP at 64
  /// callers on 2 cores: 40.9k calls/s with polling, 47.6k without).
  using PollingWorthwhile = std::function<bool()>;

  /// Starts the loop thread, named `mlbridge-loop` (as `top -H` and /proc/<pid>/task show it).
  /// `spin` zero: the loop sleeps as soon as it has nothing to run. `worthwhile` empty: the loop
  /// always polls for `spin`.
  explicit EventLoop(std::chrono::microseconds spin = kDefaultSpin,
                     PollingWorthwhile worthwhile = {});
  /// Stops the loop and joins its thread. Pending handlers are destroyed without running.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  boost::asio::io_context& context() { return io_; }

  /// Runs `task` on the loop thread later. Any thread.
  void post(std::function<void()> task);

  /// The polling time it was started with.
  std::chrono::microseconds spin() const { return spin_; }

  /// CPU time (user + system) the loop thread has used since it started: the dispatcher's own
  /// cost, whatever the workers do, polling included. Any thread.
  std::chrono::nanoseconds cpu_time() const;

  /// True on the loop thread.
  bool in_loop_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  /// Runs `task` on the loop thread and waits for its result. Must not be called on the loop
  /// thread (it would deadlock); runs `task` inline there instead.
  template <typename F>
  auto run_sync(F task) -> std::invoke_result_t<F> {
    using R = std::invoke_result_t<F>;
    if (in_loop_thread()) return task();
    std::packaged_task<R()> packaged(std::move(task));
    auto future = packaged.get_future();
    post([&packaged] { packaged(); });
    return future.get();
  }

 private:
  void run();

  const std::chrono::microseconds spin_;
  const PollingWorthwhile polling_worthwhile_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace mlbridge::runtime
