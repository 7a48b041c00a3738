#pragma once

// One client connection: reads requests one after another (keep-alive; pipelined requests wait
// in the buffer and are answered in order), hands each to the router, writes its answer, with a
// deadline for every phase (idle between requests, the header block from its first byte, the
// body, each write), so that a client that trickles costs a socket and a timer, never a thread.
// While a request is being answered the connection keeps reading, to notice a client that goes
// away: its call is then cancelled. An SSE stream's unsent bytes are bounded; a client that reads
// too slowly has its call cancelled and its connection closed, with a log line.
//
// Threading: everything runs on the connection's strand; start(), drain() and close() may be
// called from any thread (they post). One exception, the direct answer: a complete keep-alive
// reply is written by the thread that has it (the host's event loop, a blocking-pool thread),
// straight to the socket, when nothing else is being written for that request; the strand
// learns of it afterwards (a post, off the client's path) and reads the next request. Without
// it every answer woke the connection's I/O thread before the client saw a byte. The socket's
// descriptor is closed only under the same lock, so a direct write never reaches a reused one.
// Owned by shared pointers held by its pending operations and by exchanges handed to routes; the
// socket closes when the connection does, not later.

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "output_bytes.hpp"
#include "server_core.hpp"

namespace mlbridge::server {

/// The connection's strand, as a concrete type: a socket or timer on an any_io_executor
/// type-erases it again on every operation and post, which allocates.
using ConnectionStrand = boost::asio::strand<boost::asio::io_context::executor_type>;
using ConnectionSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, ConnectionStrand>;
using ConnectionTimer =
    boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                      boost::asio::wait_traits<std::chrono::steady_clock>,
                                      ConnectionStrand>;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ConnectionSocket socket, ServerCore& core, std::uint64_t id);

  /// Starts reading requests.
  void start();
  /// Closes the connection now (stop()); a request still answered is abandoned.
  void close_now();

 private:
  friend class ConnectionExchange;
  enum class Phase { kWaiting, kReadingHeader, kReadingBody, kAnswering, kLingering, kClosed };

  void wait_for_request();
  void parse();
  void read_more();
  void on_read(boost::system::error_code ec, std::size_t size);
  void on_body_read(boost::system::error_code ec, std::size_t size);
  void handle(HttpRequest request);
  void refuse(int status, const std::string& message);
  void flush();
  void on_written(boost::system::error_code ec);
  void finish_exchange();
  void close_after_answer();
  void abandon(const std::string& why);
  void close();
  // The connection's one deadline (idle, header, body, answer, write, linger): arm() sets it
  // `timeout` from now, disarm() clears it. One timer serves it, reset only when a deadline
  // comes earlier than the timer's.
  void arm(std::chrono::milliseconds timeout);
  void disarm();
  void start_timer(std::chrono::steady_clock::time_point at);
  void on_timer();
  void on_deadline();

  // The direct answer (any thread): writes `response` now when the request numbered `seq` is
  // still open for it; false when the caller must post it to the strand instead (then
  // `response` is untouched; when true its body may have been moved out).
  bool try_reply_now(std::uint64_t seq, HttpResponse& response);
  // Ends the direct answer's window for `seq` (before an operation that writes is posted).
  void close_direct(std::uint64_t seq);
  // On the strand: whether the current request was answered directly (in full or in part).
  bool replied_directly();
  // On the strand: ends the current exchange when its direct answer was written in full (then
  // true); with `close_window`, a window still open is closed. `written_at`, when given, gets
  // the time the answer was written.
  bool finish_direct_answer(bool close_window,
                            std::chrono::steady_clock::time_point* written_at = nullptr);
  // On the strand: the access log line of a direct answer (as do_reply writes it).
  void log_direct_answer();
  // On the strand, after a direct answer written in part: the strand writes the rest.
  void on_replied_in_part(std::uint64_t seq, OutputBytes rest);

  // The exchange's operations, on the strand, for the request numbered `seq`.
  bool current(std::uint64_t seq) const;
  void do_reply(std::uint64_t seq, HttpResponse response);
  void do_start_stream(std::uint64_t seq, HeaderList headers);
  void do_send_event(std::uint64_t seq, std::string text);
  void do_end_stream(std::uint64_t seq);
  void do_on_abandon(std::uint64_t seq, std::function<void()> action);
  void do_after(std::uint64_t seq, std::chrono::milliseconds delay, std::function<void()> action);

  ConnectionSocket socket_;
  ServerCore& core_;
  const std::uint64_t id_;
  std::string peer_;
  RequestReader reader_;
  ConnectionTimer deadline_;
  std::uint64_t deadline_generation_ = 0;  // of the timer's current wait
  std::chrono::steady_clock::time_point deadline_at_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point timer_expiry_;
  bool timer_pending_ = false;
  ConnectionTimer action_timer_;
  std::array<char, 16 * 1024> read_buffer_;
  std::string input_;    // read, not yet parsed (pipelined requests wait here)
  OutputBytes pending_;  // to write
  OutputBytes writing_;  // being written (its strings stay put until the write ends)
  std::size_t lingered_bytes_ = 0;
  bool reading_ = false;
  bool write_in_progress_ = false;
  Phase phase_ = Phase::kWaiting;

  // The request being answered.
  std::uint64_t seq_ = 0;
  std::string method_;
  std::string path_;
  bool keep_alive_ = true;
  std::atomic<bool> counted_{false};  // counted in core_.active_requests (a direct answer ends it)
  bool streaming_ = false;
  bool answered_ = false;   // the whole answer is queued
  bool abandoned_ = false;  // the client left before the answer was complete
  std::function<void()> on_abandon_;

  // The direct answer's state, guarded by direct_mutex_ (which also guards closing the socket).
  // After an answer written in full the strand is not told: it finishes the exchange when the
  // client's next bytes arrive (or it leaves), or at the answering guard's deadline (handle()).
  enum class Direct { kClosed, kOpen, kWrittenInFull, kWrittenInPart };
  std::mutex direct_mutex_;
  Direct direct_ = Direct::kClosed;
  std::uint64_t direct_seq_ = 0;
  int direct_status_ = 0;
  std::chrono::steady_clock::time_point direct_written_at_;
};

}  // namespace mlbridge::server
