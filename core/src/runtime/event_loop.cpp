#include "mlbridge/runtime/event_loop.hpp"

#include <boost/asio/post.hpp>

namespace mlbridge::runtime {

EventLoop::EventLoop() : io_(1), work_(boost::asio::make_work_guard(io_)) {
  thread_ = std::thread([this] { io_.run(); });
}

EventLoop::~EventLoop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void EventLoop::post(std::function<void()> task) { boost::asio::post(io_, std::move(task)); }

}  // namespace mlbridge::runtime
