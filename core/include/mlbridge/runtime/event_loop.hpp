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
  /// Starts the loop thread, named `mlbridge-loop` (as `top -H` and /proc/<pid>/task show it).
  EventLoop();
  /// Stops the loop and joins its thread. Pending handlers are destroyed without running.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  boost::asio::io_context& context() { return io_; }

  /// Runs `task` on the loop thread later. Any thread.
  void post(std::function<void()> task);

  /// CPU time (user + system) the loop thread has used since it started: the dispatcher's own
  /// cost, whatever the workers do. Any thread.
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
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace mlbridge::runtime
