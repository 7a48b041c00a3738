#include "connection.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <limits>

#include "exchange.hpp"
#include "http_errors.hpp"

namespace mlbridge::server {
namespace asio = boost::asio;

namespace {

// Bytes read ahead while a request is answered (pipelined requests, or nothing from a client
// that only waits); past this the connection stops reading until the answer is written.
constexpr std::size_t kMaxReadAhead = 64 * 1024;
// How long a refused request's connection keeps reading (and dropping) what the client still
// sends, so that the client sees the answer instead of a reset.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kMaxLingerBytes = 4 * 1024 * 1024;
// Requests in progress (server-wide) up to which an answer is written by the thread that has it
// (try_reply_now). Measured on 2 cores: with one caller, direct answers cut a no-op call's median
// by about a third; with 64 callers they cost the host's event loop a send per call and lowered
// throughput by a fifth. Measured again once the loop stopped polling under load (interleaved
// runs, async_echo): always direct (64) gave 30-36k calls/s at 64 callers against 42-45k; 2
// gave 14.2k and 18.5k calls/s at 4 and 8 callers against 15.3k and 20.4k.
constexpr std::size_t kMaxActiveForDirectAnswers = 8;

// The completion condition of an asynchronous write: as much as the socket takes per send (Asio's
// default, transfer_all, sends at most 64 KiB at a time).
std::size_t whatever_the_socket_takes(const boost::system::error_code& ec, std::size_t) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

}  // namespace

/// The Exchange of a request on a socket connection: posts every operation to the strand.
class ConnectionExchange final : public Exchange {
 public:
  ConnectionExchange(std::shared_ptr<Connection> connection, std::uint64_t seq)
      : connection_(std::move(connection)), seq_(seq) {}

  void reply(HttpResponse response) override {
    if (connection_->try_reply_now(seq_, response)) return;
    post([response = std::move(response)](Connection& c, std::uint64_t seq) mutable {
      c.do_reply(seq, std::move(response));
    });
  }
  void start_stream(HeaderList headers) override {
    connection_->close_direct(seq_);
    post([headers = std::move(headers)](Connection& c, std::uint64_t seq) mutable {
      c.do_start_stream(seq, std::move(headers));
    });
  }
  void send_event(std::string text) override {
    post([text = std::move(text)](Connection& c, std::uint64_t seq) mutable {
      c.do_send_event(seq, std::move(text));
    });
  }
  void end_stream() override {
    post([](Connection& c, std::uint64_t seq) { c.do_end_stream(seq); });
  }
  void on_abandon(std::function<void()> action) override {
    post([action = std::move(action)](Connection& c, std::uint64_t seq) mutable {
      c.do_on_abandon(seq, std::move(action));
    });
  }
  void after(std::chrono::milliseconds delay, std::function<void()> action) override {
    post([delay, action = std::move(action)](Connection& c, std::uint64_t seq) mutable {
      c.do_after(seq, delay, std::move(action));
    });
  }

 private:
  template <typename Operation>
  void post(Operation operation) {
    asio::post(connection_->socket_.get_executor(),
               [connection = connection_, seq = seq_, operation = std::move(operation)]() mutable {
                 operation(*connection, seq);
               });
  }

  std::shared_ptr<Connection> connection_;
  const std::uint64_t seq_;
};

Connection::Connection(ConnectionSocket socket, ServerCore& core, std::uint64_t id)
    : socket_(std::move(socket)),
      core_(core),
      id_(id),
      reader_(core.limits.reader),
      deadline_(socket_.get_executor()),
      action_timer_(socket_.get_executor()) {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void Connection::start() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->wait_for_request(); });
}

void Connection::close_now() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kAnswering && !self->answered_ && !self->replied_directly()) {
      self->abandon("the server is stopping");
    }
    self->close();
  });
}

void Connection::wait_for_request() {
  phase_ = Phase::kWaiting;
  arm(core_.limits.idle_timeout);
  parse();
}

void Connection::parse() {
  // A request that arrived whole is handled without its header deadline ever being set.
  const auto state = reader_.feed(input_);
  if (state == RequestReader::State::kRefused) {
    return refuse(reader_.refusal().status, reader_.refusal().message);
  }
  if (state == RequestReader::State::kComplete) return handle(reader_.take());
  if (phase_ == Phase::kWaiting && reader_.started()) {
    phase_ = Phase::kReadingHeader;
    arm(core_.limits.header_timeout);
  }
  if (phase_ == Phase::kReadingHeader && reader_.header_done()) {
    phase_ = Phase::kReadingBody;
    arm(core_.limits.body_timeout);
    if (reader_.take_continue_wanted()) {
      pending_.append(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
      flush();
    }
  }
  read_more();
}

void Connection::read_more() {
  if (reading_ || phase_ == Phase::kClosed) return;
  reading_ = true;
  if (phase_ == Phase::kReadingBody) {
    // A large Content-Length body: straight into the request's string, no copy on the way.
    if (const auto space = reader_.body_space(); space.size() > 0) {
      socket_.async_read_some(
          space, [self = shared_from_this()](boost::system::error_code ec, std::size_t size) {
            self->on_body_read(ec, size);
          });
      return;
    }
  }
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](boost::system::error_code ec, std::size_t size) {
        self->on_read(ec, size);
      });
}

void Connection::on_read(boost::system::error_code ec, std::size_t size) {
  reading_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    if (phase_ == Phase::kAnswering && !answered_ && replied_directly()) {
      log_direct_answer();  // the exchange ended well; only its log line was still to come
    } else if (phase_ == Phase::kAnswering && !answered_) {
      abandon("the client closed its connection before the answer was complete");
    } else if (phase_ == Phase::kReadingBody) {
      spdlog::info("{} {}: the client closed its connection in the middle of the body", peer_,
                   "request");
    }
    return close();
  }
  if (phase_ == Phase::kLingering) {
    lingered_bytes_ += size;  // dropped
    if (lingered_bytes_ > kMaxLingerBytes) return close();
    return read_more();
  }
  input_.append(read_buffer_.data(), size);
  if (phase_ == Phase::kAnswering) {
    // The next request (or a pipelined one): after a direct answer, read it now; before one, the
    // answer must go through the strand, which then reads it.
    if (finish_direct_answer(true)) return;
    if (input_.size() < kMaxReadAhead) read_more();
    return;
  }
  parse();
}

void Connection::on_body_read(boost::system::error_code ec, std::size_t size) {
  if (ec || phase_ != Phase::kReadingBody) return on_read(ec, 0);
  reading_ = false;
  reader_.body_read(size);
  parse();
}

void Connection::handle(HttpRequest request) {
  phase_ = Phase::kAnswering;
  // The call's own deadline bounds the answer and each write has its own (flush()); this one, the
  // answering guard, only notices a direct answer after which the client sent nothing more, so
  // that an idle connection still closes (after one to two idle timeouts).
  arm(core_.limits.idle_timeout);
  ++seq_;
  method_ = request.method;
  path_ = request.path;
  keep_alive_ = request.keep_alive;
  streaming_ = false;
  answered_ = false;
  abandoned_ = false;
  on_abandon_ = nullptr;
  counted_ = true;
  core_.request_started();
  {
    std::lock_guard lock(direct_mutex_);
    direct_seq_ = seq_;
    // Not when the answer closes the connection, follows a write still under way ("100
    // Continue"), or pipelined bytes wait: those need the strand after the answer.
    direct_ =
        keep_alive_ && !write_in_progress_ && input_.empty() ? Direct::kOpen : Direct::kClosed;
  }
  // Keep reading: a client that goes away shows up as the end of its stream.
  read_more();
  core_.router.dispatch(std::move(request),
                        std::make_shared<ConnectionExchange>(shared_from_this(), seq_));
}

void Connection::refuse(int status, const std::string& message) {
  spdlog::info("{}: request refused with {}: {}", peer_, status, message);
  phase_ = Phase::kAnswering;
  disarm();
  ++seq_;
  keep_alive_ = false;
  answered_ = true;
  HttpResponse response;
  send_json(response, error_body(Error::make(ErrorCategory::kInvalidArgument, message)), status);
  pending_.append(response_head(response, false));
  pending_.append(std::move(response.body));
  flush();
}

bool Connection::current(std::uint64_t seq) const {
  return seq == seq_ && phase_ == Phase::kAnswering && !answered_;
}

bool Connection::try_reply_now(std::uint64_t seq, HttpResponse& response) {
  std::unique_lock lock(direct_mutex_);
  if (direct_ != Direct::kOpen || seq != direct_seq_) return false;
  // Its answer says "Connection: close": the strand's work. And under load: then the I/O threads
  // are awake anyway, and the replying thread (the host's one event loop, which dispatches every
  // call) is better left to dispatch than to write to sockets.
  if (core_.draining.load() || core_.active_requests.load() > kMaxActiveForDirectAnswers) {
    direct_ = Direct::kClosed;
    return false;
  }
  OutputBytes bytes;
  bytes.append(response_head(response, true));
  bytes.append(std::move(response.body));
  // What is not sent now (a full socket buffer, an error), the strand writes (and sees the error).
  bytes.send_without_waiting(socket_.native_handle());
  direct_status_ = response.status;
  direct_written_at_ = std::chrono::steady_clock::now();
  if (bytes.empty()) {
    direct_ = Direct::kWrittenInFull;
    lock.unlock();
    if (counted_.exchange(false)) core_.request_ended();
    return true;
  }
  direct_ = Direct::kWrittenInPart;
  lock.unlock();
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), seq, rest = std::move(bytes)]() mutable {
               self->on_replied_in_part(seq, std::move(rest));
             });
  return true;
}

void Connection::close_direct(std::uint64_t seq) {
  std::lock_guard lock(direct_mutex_);
  if (seq == direct_seq_ && direct_ == Direct::kOpen) direct_ = Direct::kClosed;
}

bool Connection::replied_directly() {
  std::lock_guard lock(direct_mutex_);
  return direct_seq_ == seq_ &&
         (direct_ == Direct::kWrittenInFull || direct_ == Direct::kWrittenInPart);
}

bool Connection::finish_direct_answer(bool close_window,
                                      std::chrono::steady_clock::time_point* written_at) {
  int status = 0;
  {
    std::lock_guard lock(direct_mutex_);
    if (direct_seq_ != seq_) return false;
    if (direct_ != Direct::kWrittenInFull) {
      if (close_window && direct_ == Direct::kOpen) direct_ = Direct::kClosed;
      return false;
    }
    direct_ = Direct::kClosed;
    status = direct_status_;
    if (written_at) *written_at = direct_written_at_;
  }
  if (phase_ != Phase::kAnswering || answered_) return false;
  answered_ = true;
  spdlog::info("{} {} {}", method_, path_, status);  // as do_reply logs it
  finish_exchange();
  return true;
}

void Connection::log_direct_answer() {
  int status = 0;
  {
    std::lock_guard lock(direct_mutex_);
    status = direct_status_;
  }
  spdlog::info("{} {} {}", method_, path_, status);
}

void Connection::on_replied_in_part(std::uint64_t seq, OutputBytes rest) {
  if (!current(seq) || streaming_) return;  // closed meanwhile
  answered_ = true;
  log_direct_answer();
  if (pending_.empty()) {
    pending_ = std::move(rest);
  } else {
    for (const auto& buffer : rest.buffers()) {
      pending_.append(std::string_view(static_cast<const char*>(buffer.data()), buffer.size()));
    }
  }
  flush();
}

void Connection::do_reply(std::uint64_t seq, HttpResponse response) {
  if (!current(seq) || streaming_ || replied_directly()) return;
  answered_ = true;
  keep_alive_ = keep_alive_ && !core_.draining.load();
  spdlog::info("{} {} {}", method_, path_, response.status);
  pending_.append(response_head(response, keep_alive_));
  pending_.append(std::move(response.body));
  flush();
}

void Connection::do_start_stream(std::uint64_t seq, HeaderList headers) {
  if (!current(seq) || streaming_ || replied_directly()) return;
  streaming_ = true;
  keep_alive_ = keep_alive_ && !core_.draining.load();
  spdlog::info("{} {} 200 (stream)", method_, path_);
  pending_.append(event_stream_head(keep_alive_, headers));
  flush();
}

void Connection::do_send_event(std::uint64_t seq, std::string text) {
  if (!current(seq) || !streaming_ || text.empty()) return;
  pending_.append(chunk(text));
  if (pending_.size() > core_.limits.max_stream_buffer_bytes) {
    spdlog::warn(
        "{} {} from {}: the client reads the stream too slowly ({} bytes unsent, over the "
        "limit of {}); cancelling its call and closing the connection",
        method_, path_, peer_, pending_.size(), core_.limits.max_stream_buffer_bytes);
    abandon("");
    return close();
  }
  flush();
}

void Connection::do_end_stream(std::uint64_t seq) {
  if (!current(seq) || !streaming_) return;
  answered_ = true;
  pending_.append(kLastChunk);
  flush();
}

void Connection::do_on_abandon(std::uint64_t seq, std::function<void()> action) {
  if (seq != seq_) return;
  if (abandoned_) {
    action();  // the client left before the route could say how to cancel
    return;
  }
  if (current(seq)) on_abandon_ = std::move(action);
}

void Connection::do_after(std::uint64_t seq, std::chrono::milliseconds delay,
                          std::function<void()> action) {
  if (!current(seq)) return;
  action_timer_.expires_after(delay);
  action_timer_.async_wait(
      [self = shared_from_this(), seq, action = std::move(action)](boost::system::error_code ec) {
        if (!ec && self->current(seq)) action();
      });
}

void Connection::flush() {
  if (write_in_progress_ || pending_.empty() || phase_ == Phase::kClosed) return;
  write_in_progress_ = true;
  // Most answers fit in the socket's buffer: written now, then on_written runs next on this
  // thread (posted, so that pipelined requests do not nest), with no asynchronous write and no
  // write deadline to set.
  pending_.send_without_waiting(socket_.native_handle());
  if (pending_.empty()) {
    if (phase_ == Phase::kAnswering) disarm();  // as on_written does; no deadline fires between
    asio::post(socket_.get_executor(),
               [self = shared_from_this()] { self->on_written(boost::system::error_code{}); });
    return;
  }
  writing_.clear();
  std::swap(writing_, pending_);
  // Only an answer's writes have a deadline here; while a request is read ("100 Continue"), the
  // header or body deadline stays.
  if (phase_ == Phase::kAnswering) arm(core_.limits.write_timeout);
  asio::async_write(socket_, writing_.buffers(), whatever_the_socket_takes,
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->on_written(ec);
                    });
}

void Connection::on_written(boost::system::error_code ec) {
  write_in_progress_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    if (phase_ == Phase::kAnswering && !answered_) {
      abandon("the client closed its connection before the answer was complete");
    }
    return close();
  }
  if (phase_ == Phase::kAnswering) disarm();
  if (!pending_.empty()) return flush();
  if (phase_ == Phase::kAnswering && answered_) finish_exchange();
}

void Connection::finish_exchange() {
  if (counted_.exchange(false)) core_.request_ended();
  on_abandon_ = nullptr;
  action_timer_.cancel();
  if (!keep_alive_) return close_after_answer();
  wait_for_request();
}

void Connection::close_after_answer() {
  // Half-close, then drop what the client still sends for a moment: closing a socket with
  // unread bytes sends a reset, which can destroy the answer before the client reads it.
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return close();
  phase_ = Phase::kLingering;
  input_.clear();
  lingered_bytes_ = 0;
  arm(kLingerTime);
  read_more();
}

void Connection::abandon(const std::string& why) {
  if (abandoned_) return;
  abandoned_ = true;
  if (!why.empty()) {
    spdlog::info("{} {} from {}: {}; cancelling its call", method_, path_, peer_, why);
  }
  if (auto action = std::exchange(on_abandon_, nullptr)) action();
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  ++deadline_generation_;
  timer_pending_ = false;
  deadline_.cancel();
  action_timer_.cancel();
  if (counted_.exchange(false)) core_.request_ended();
  on_abandon_ = nullptr;
  {
    std::lock_guard lock(direct_mutex_);  // no direct answer uses the descriptor after this
    direct_ = Direct::kClosed;
    boost::system::error_code ec;
    socket_.close(ec);
  }
  core_.remove(id_);
}

void Connection::arm(std::chrono::milliseconds timeout) {
  deadline_at_ = std::chrono::steady_clock::now() + timeout;
  // Deadlines mostly move later (idle, answer, idle...): the timer set for an earlier one fires
  // first and is set again then (on_timer), instead of being reset for every request.
  if (timer_pending_ && timer_expiry_ <= deadline_at_) return;
  start_timer(deadline_at_);
}

void Connection::disarm() { deadline_at_ = std::chrono::steady_clock::time_point::max(); }

void Connection::start_timer(std::chrono::steady_clock::time_point at) {
  const std::uint64_t generation = ++deadline_generation_;
  timer_expiry_ = at;
  timer_pending_ = true;
  deadline_.expires_at(at);  // a wait still pending ends with a stale generation
  deadline_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (generation != self->deadline_generation_) return;
    self->timer_pending_ = false;
    if (!ec) self->on_timer();
  });
}

void Connection::on_timer() {
  if (phase_ == Phase::kClosed || deadline_at_ == std::chrono::steady_clock::time_point::max()) {
    return;
  }
  if (std::chrono::steady_clock::now() < deadline_at_) return start_timer(deadline_at_);
  on_deadline();
}

void Connection::on_deadline() {
  switch (phase_) {
    case Phase::kWaiting:
      spdlog::debug("{}: closing a connection idle for {} ms", peer_,
                    core_.limits.idle_timeout.count());
      break;
    case Phase::kReadingHeader:
      spdlog::info("{}: closing a connection whose request headers did not arrive within {} ms",
                   peer_, core_.limits.header_timeout.count());
      break;
    case Phase::kReadingBody:
      spdlog::info("{}: closing a connection whose request body did not arrive within {} ms", peer_,
                   core_.limits.body_timeout.count());
      break;
    case Phase::kAnswering:
      if (!write_in_progress_) {  // the answering guard (handle()), not a write's deadline
        std::chrono::steady_clock::time_point written_at;
        if (!finish_direct_answer(false, &written_at)) {
          return arm(core_.limits.idle_timeout);  // the call still runs
        }
        // Idle since the answer was written, not since now.
        if (phase_ == Phase::kWaiting) {
          const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - written_at);
          arm(std::max(std::chrono::milliseconds(0), core_.limits.idle_timeout - idle));
        }
        return;
      }
      spdlog::warn("{} {} from {}: a write to the client took longer than {} ms; closing", method_,
                   path_, peer_, core_.limits.write_timeout.count());
      if (!answered_) abandon("");
      break;
    case Phase::kLingering:
    case Phase::kClosed:
      break;
  }
  close();
}

}  // namespace mlbridge::server
