#include "sse_channel.hpp"

#include <utility>

#include "http_errors.hpp"

namespace mlbridge::server {

std::string sse_event(const std::string& name, const protocol::json& data) {
  return "event: " + name + "\ndata: " +
         protocol::to_plain_json(data).dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n\n";
}

void SseChannel::push_chunk(const protocol::json& chunk) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  events_.push_back(sse_event("chunk", chunk));
  chunked_ = true;
  ready_.notify_one();
}

void SseChannel::finish(const Result<protocol::json>& result) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  events_.push_back(result ? sse_event("result", {{"result", *result}})
                           : sse_event("error", error_body(result.error())));
  if (!result && !chunked_) early_error_ = result.error();
  finished_ = true;
  ready_.notify_one();
}

SseChannel::Batch SseChannel::next(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, wait, [this] { return !events_.empty(); });
  Batch batch;
  while (!events_.empty()) {
    batch.text += events_.front();
    events_.pop_front();
  }
  batch.finished = finished_;
  return batch;
}

std::optional<Error> SseChannel::error_before_first_chunk(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, wait, [this] { return !events_.empty(); });
  if (!early_error_) return std::nullopt;
  events_.clear();
  return std::exchange(early_error_, std::nullopt);
}

}  // namespace mlbridge::server
