#include "streamed_call.hpp"

#include "http_errors.hpp"

namespace mlbridge::server {

std::string sse_event(const std::string& name, const protocol::json& data) {
  return "event: " + name + "\ndata: " +
         protocol::to_plain_json(data).dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n\n";
}

void StreamedCall::send_head_locked() {
  if (head_sent_) return;
  head_sent_ = true;
  exchange_->start_stream(call_id_headers(*call_id_));
}

void StreamedCall::chunk(const protocol::json& chunk) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  send_head_locked();
  sent_since_tick_ = true;
  exchange_->send_event(sse_event("chunk", chunk));
}

void StreamedCall::finish(const Result<std::string>& result) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (!head_sent_ && !result) {
    HttpResponse response;
    send_error(response, result.error());
    for (auto& header : call_id_headers(*call_id_)) response.headers.push_back(std::move(header));
    exchange_->reply(std::move(response));
    return;
  }
  send_head_locked();
  exchange_->send_event(result ? "event: result\ndata: {\"result\":" + *result + "}\n\n"
                               : sse_event("error", error_body(result.error())));
  exchange_->end_stream();
}

void StreamedCall::tick() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  if (!head_sent_) {
    send_head_locked();
  } else if (!sent_since_tick_) {
    exchange_->send_event(": waiting\n\n");
  }
  sent_since_tick_ = false;
  exchange_->after(std::chrono::seconds(1), [self = shared_from_this()] { self->tick(); });
}

}  // namespace mlbridge::server
