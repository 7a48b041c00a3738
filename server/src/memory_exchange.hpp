#pragma once

// The Exchange of HttpServer::serve_in_memory: collects the answer's bytes (a response, or a
// stream's head, chunks and end) in memory and lets the caller wait for the end. Thread-safe.

#include <condition_variable>
#include <mutex>
#include <string>

#include "exchange.hpp"

namespace mlbridge::server {

class MemoryExchange final : public Exchange {
 public:
  /// `keep_alive`: what the answer's Connection header says.
  explicit MemoryExchange(bool keep_alive) : keep_alive_(keep_alive) {}

  void reply(HttpResponse response) override;
  void start_stream(HeaderList headers) override;
  void send_event(std::string text) override;
  void end_stream() override;
  void on_abandon(std::function<void()>) override {}  // the in-memory client never leaves
  void after(std::chrono::milliseconds, std::function<void()>) override {}

  /// Waits for the end of the exchange and returns the bytes written. The caller's thread.
  std::string wait();

 private:
  const bool keep_alive_;
  std::mutex mutex_;
  std::condition_variable done_;
  std::string output_;
  bool streaming_ = false;
  bool ended_ = false;
};

}  // namespace mlbridge::server
