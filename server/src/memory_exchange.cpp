#include "memory_exchange.hpp"

namespace mlbridge::server {

void MemoryExchange::reply(HttpResponse response) {
  std::lock_guard lock(mutex_);
  if (ended_ || streaming_) return;
  output_ += serialize_response(response, keep_alive_);
  ended_ = true;
  done_.notify_all();
}

void MemoryExchange::start_stream(HeaderList headers) {
  std::lock_guard lock(mutex_);
  if (ended_ || streaming_) return;
  streaming_ = true;
  output_ += event_stream_head(keep_alive_, headers);
}

void MemoryExchange::send_event(std::string text) {
  std::lock_guard lock(mutex_);
  if (ended_ || !streaming_ || text.empty()) return;
  output_ += chunk(text);
}

void MemoryExchange::end_stream() {
  std::lock_guard lock(mutex_);
  if (ended_ || !streaming_) return;
  output_ += kLastChunk;
  ended_ = true;
  done_.notify_all();
}

std::string MemoryExchange::wait() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return ended_; });
  return std::move(output_);
}

}  // namespace mlbridge::server
