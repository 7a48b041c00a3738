#include "mlbridge/runtime/event_loop.hpp"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

namespace mlbridge::runtime {

EventLoop::EventLoop(std::chrono::microseconds spin, PollingWorthwhile worthwhile)
    : spin_(std::max(spin, std::chrono::microseconds{0})),
      polling_worthwhile_(std::move(worthwhile)),
      io_(1),
      work_(boost::asio::make_work_guard(io_)) {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "mlbridge-loop");
    run();
  });
}

void EventLoop::run() {
  if (spin_.count() == 0) {
    io_.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  while (!io_.stopped()) {
    // poll() runs what is ready, the reactor's events included, without sleeping.
    if (io_.poll() > 0) {
      last_work = Clock::now();
    } else if (Clock::now() - last_work >= spin_ ||
               (polling_worthwhile_ && !polling_worthwhile_())) {
      io_.run_one();  // sleeps until there is work (or stop())
      last_work = Clock::now();
    }
  }
}

EventLoop::~EventLoop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

std::chrono::nanoseconds EventLoop::cpu_time() const {
  clockid_t clock;
  timespec spent{};
  // const_cast: native_handle() is not const, but asking for the thread's clock changes nothing.
  auto& thread = const_cast<std::thread&>(thread_);
  if (::pthread_getcpuclockid(thread.native_handle(), &clock) != 0 ||
      ::clock_gettime(clock, &spent) != 0) {
    return std::chrono::nanoseconds{0};
  }
  return std::chrono::seconds{spent.tv_sec} + std::chrono::nanoseconds{spent.tv_nsec};
}

void EventLoop::post(std::function<void()> task) { boost::asio::post(io_, std::move(task)); }

}  // namespace mlbridge::runtime
