#include "mlbridge/store/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>

#include "mlbridge/runtime/event_loop.hpp"
#include "reconnect_backoff.hpp"
#include "redis_asio_adapter.hpp"
#include "redis_errors.hpp"

namespace mlbridge::store {
namespace {

using RedisClock = std::chrono::steady_clock;

RedisReply convert_redis_reply(const redisReply& raw) {
  RedisReply reply;
  switch (raw.type) {
    case REDIS_REPLY_STRING:
      reply.type = RedisReply::Type::kString;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_STATUS:
      reply.type = RedisReply::Type::kStatus;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ERROR:
      reply.type = RedisReply::Type::kError;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_INTEGER:
      reply.type = RedisReply::Type::kInteger;
      reply.integer = raw.integer;
      break;
    case REDIS_REPLY_ARRAY:
      reply.type = RedisReply::Type::kArray;
      reply.elements.reserve(raw.elements);
      for (std::size_t i = 0; i < raw.elements; ++i) {
        reply.elements.push_back(convert_redis_reply(*raw.element[i]));
      }
      break;
    default:
      reply.type = RedisReply::Type::kNil;
      break;
  }
  return reply;
}

long long redis_elapsed_ms(RedisClock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(RedisClock::now() - since).count();
}

}  // namespace

// The connection's state machine. Public methods: any thread. Everything else: the loop thread.
//
// States: connecting (no outage yet: commands wait, at most connect_timeout), ready (commands
// are sent at once), outage (the last attempt failed or the connection was lost: commands fail
// at once with the reason, a reconnect timer runs with backoff).
class RedisClient::Impl {
 public:
  Impl(RedisEndpoint endpoint, RedisClientOptions options)
      : endpoint_(std::move(endpoint)),
        options_(options),
        loop_(std::make_unique<runtime::EventLoop>(std::chrono::microseconds{0})),
        backoff_(options.reconnect_min, options.reconnect_max) {
    auto& io = loop_->context();
    connect_timer_.emplace(io);
    command_timer_.emplace(io);
    waiting_timer_.emplace(io);
    reconnect_timer_.emplace(io);
    loop_->post([] {
      ::pthread_setname_np(::pthread_self(), "mlbridge-redis");
      // hiredis writes with write(2): to a Redis that just died that raises SIGPIPE, which
      // would end the whole process. Blocked on this thread only, it leaves write() failing
      // with EPIPE, which hiredis reports as a lost connection.
      sigset_t pipe_signal;
      ::sigemptyset(&pipe_signal);
      ::sigaddset(&pipe_signal, SIGPIPE);
      ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    });
  }
  ~Impl() { stop(); }

  void start() {
    std::lock_guard lock(stop_mutex_);
    if (stopped_ || started_) return;
    started_ = true;
    boost::asio::post(loop_->context(), [this] { connect(); });
  }

  void command(std::vector<std::string> argv, Callback done) {
    {
      std::lock_guard lock(stop_mutex_);
      if (!stopped_) {
        boost::asio::post(loop_->context(),
                          [this, argv = std::move(argv), done = std::move(done)]() mutable {
                            submit(std::move(argv), std::move(done));
                          });
        return;
      }
    }
    done(redis_errors::stopped(endpoint_));
  }

  bool connected() const { return connected_.load(std::memory_order_acquire); }

  void stop() {
    {
      std::lock_guard lock(stop_mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (loop_->in_loop_thread()) {
      // Joining the loop thread from itself cannot work; see the header.
      spdlog::critical("{}: the Redis client was stopped from its own callback",
                       endpoint_.display());
      std::terminate();
    }
    loop_->run_sync([this] { teardown(); });
    // Handlers of the waits and timers cancelled by teardown() were queued before this one.
    loop_->run_sync([] {});
    loop_.reset();
  }

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  // What a hiredis callback answers: a caller's command, or one step of the handshake.
  enum class Purpose { kCommand, kAuth, kSelect, kPing };
  // hiredis's privdata of one sent command; deleted by its callback, which hiredis calls exactly
  // once (with nullptr when the connection goes first).
  struct Sent {
    Impl* owner;
    Purpose purpose;
    Callback done;                    // kCommand only
    RedisClock::time_point deadline;  // kCommand only
  };
  // A command that waits for the first connection.
  struct Waiting {
    std::vector<std::string> argv;
    Callback done;
    RedisClock::time_point deadline;
  };

  static void on_reply(redisAsyncContext* context, void* reply, void* privdata) {
    std::unique_ptr<Sent> sent(static_cast<Sent*>(privdata));
    Impl* self = sent->owner;
    auto* raw = static_cast<redisReply*>(reply);
    if (sent->purpose == Purpose::kCommand) {
      self->finish_command(std::move(sent), context, raw);
    } else {
      self->handshake_step_done(sent->purpose, raw);
    }
  }

  static void on_tcp_connect(const redisAsyncContext* context, int status) {
    // On failure hiredis frees the context right after this; on_detached() says why.
    if (status == REDIS_OK) static_cast<Impl*>(context->data)->send_handshake();
  }

  void connect() {
    if (stopping_ || context_) return;
    drop_reason_.reset();
    redisAsyncContext* context = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
    if (context == nullptr || context->err) {
      // Refused at once (nothing listens on loopback), or the name does not resolve.
      const std::string reason = context ? context->errstr : "out of memory";
      if (context) redisAsyncFree(context);
      attempt_failed(redis_errors::unreachable(endpoint_, reason));
      return;
    }
    context->data = this;
    adapter_ = RedisAsioAdapter::attach(loop_->context(), context,
                                        [this](redisAsyncContext* gone) { on_detached(gone); });
    if (!adapter_) {
      redisAsyncFree(context);
      attempt_failed(redis_errors::unreachable(endpoint_, "its socket could not be watched"));
      return;
    }
    context_ = context;
    const std::uint64_t attempt = ++attempt_;
    redisAsyncSetConnectCallback(context, &Impl::on_tcp_connect);
    connect_timer_->expires_after(options_.connect_timeout);
    connect_timer_->async_wait([this, attempt](const boost::system::error_code& error) {
      if (error || stopping_ || attempt != attempt_ || ready_) return;
      drop_connection(redis_errors::unreachable(
          endpoint_, "no answer within " + std::to_string(options_.connect_timeout.count()) +
                         " ms of connecting"));
    });
  }

  void send_handshake() {
    // Finds a peer that vanished without a word (a host or network gone) on an idle connection.
    redisEnableKeepAlive(&context_->c);
    if (!endpoint_.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
      auth.push_back(endpoint_.password);
      send_raw(auth, Purpose::kAuth);
    }
    if (endpoint_.db != 0) send_raw({"SELECT", std::to_string(endpoint_.db)}, Purpose::kSelect);
    // PING last: its answer proves the connection works end to end (a SIGSTOPped Redis still
    // completes the TCP handshake in its kernel, and never answers).
    send_raw({"PING"}, Purpose::kPing);
  }

  // Queues `argv` on the connection; false when hiredis refuses it (the connection is closing).
  bool send_raw(const std::vector<std::string>& argv, Purpose purpose, Callback done = {}) {
    std::vector<const char*> pointers;
    std::vector<std::size_t> lengths;
    pointers.reserve(argv.size());
    lengths.reserve(argv.size());
    for (const auto& part : argv) {
      pointers.push_back(part.data());
      lengths.push_back(part.size());
    }
    auto sent = std::make_unique<Sent>(
        Sent{this, purpose, std::move(done), RedisClock::now() + options_.command_timeout});
    Sent* raw = sent.get();
    if (redisAsyncCommandArgv(context_, &Impl::on_reply, raw, static_cast<int>(argv.size()),
                              pointers.data(), lengths.data()) != REDIS_OK) {
      if (raw->done) raw->done(current_failure());
      return false;
    }
    sent.release();  // hiredis's now, until on_reply
    if (purpose == Purpose::kCommand) {
      in_flight_.push_back(raw);
      arm_command_timer();
    }
    return true;
  }

  void handshake_step_done(Purpose purpose, redisReply* reply) {
    if (reply == nullptr) return;  // the connection is going: on_detached() reports it
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string text(reply->str, reply->len);
      if (purpose == Purpose::kAuth) {
        drop_connection(redis_errors::password_refused(endpoint_, text));
      } else if (purpose == Purpose::kSelect) {
        drop_connection(redis_errors::database_refused(endpoint_, text));
      } else if (text.starts_with("NOAUTH")) {
        drop_connection(redis_errors::password_missing(endpoint_, text));
      } else {
        drop_connection(redis_errors::unreachable(endpoint_, text));
      }
      return;
    }
    if (purpose == Purpose::kPing) on_ready();
  }

  void on_ready() {
    ready_ = true;
    connected_.store(true, std::memory_order_release);
    connect_timer_->cancel();
    backoff_.reset();
    if (outage_) {
      spdlog::info("{} is back after {} ms; session calls work again", endpoint_.display(),
                   redis_elapsed_ms(outage_since_));
      outage_.reset();
    } else {
      spdlog::info("{}: connected", endpoint_.display());
    }
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& command : waiting) send_command(std::move(command.argv), std::move(command.done));
  }

  void submit(std::vector<std::string> argv, Callback done) {
    if (stopping_) return done(redis_errors::stopped(endpoint_));
    if (ready_) return send_command(std::move(argv), std::move(done));
    if (outage_) return done(*outage_);
    if (waiting_.size() >= options_.max_waiting) {
      return done(redis_errors::too_many_waiting(endpoint_, waiting_.size()));
    }
    waiting_.push_back(
        Waiting{std::move(argv), std::move(done), RedisClock::now() + options_.connect_timeout});
    arm_waiting_timer();
  }

  void send_command(std::vector<std::string> argv, Callback done) {
    if (!ready_ || context_ == nullptr) return done(current_failure());
    send_raw(argv, Purpose::kCommand, std::move(done));
  }

  void finish_command(std::unique_ptr<Sent> sent, redisAsyncContext* context, redisReply* reply) {
    if (!in_flight_.empty() && in_flight_.front() == sent.get()) {
      in_flight_.pop_front();
    } else {
      std::erase(in_flight_, sent.get());
    }
    Callback done = std::move(sent->done);
    if (reply != nullptr) return done(convert_redis_reply(*reply));
    if (drop_reason_) return done(*drop_reason_);
    done(redis_errors::unreachable(endpoint_,
                                   context->err ? context->errstr : "the connection was closed"));
  }

  // Why a command cannot be sent right now.
  Error current_failure() const {
    if (stopping_) return redis_errors::stopped(endpoint_);
    if (outage_) return *outage_;
    return redis_errors::unreachable(endpoint_, "the connection is being made again");
  }

  // Ends the connection: every command in flight fails with `why`, then on_detached() runs (at
  // once, or right after the hiredis callback this is called from).
  void drop_connection(Error why) {
    if (context_ == nullptr) return;
    redisAsyncContext* context = context_;
    ready_ = false;
    connected_.store(false, std::memory_order_release);
    drop_reason_ = std::move(why);
    redisAsyncFree(context);
  }

  // hiredis cleans the context up: whoever ended it, the connection is gone.
  void on_detached(redisAsyncContext* context) {
    // A working connection that ended by itself (Redis's idle `timeout`, CLIENT KILL, a proxy,
    // a restart) is made again at once, and commands wait for it as for the first connection;
    // only when that fails is Redis unreachable. Not twice within reconnect_max: a Redis that
    // keeps closing working connections gets the backoff.
    const auto now = RedisClock::now();
    const bool lost_by_itself = !drop_reason_ && ready_;
    const bool reconnect_at_once =
        lost_by_itself &&
        (!last_quick_reconnect_ || now - *last_quick_reconnect_ >= options_.reconnect_max);
    Error why = drop_reason_
                    ? *drop_reason_
                    : redis_errors::unreachable(
                          endpoint_, context->err ? context->errstr : "the connection was closed");
    drop_reason_.reset();
    context_ = nullptr;
    adapter_.reset();
    ready_ = false;
    connected_.store(false, std::memory_order_release);
    ++attempt_;
    connect_timer_->cancel();
    // hiredis fails every command in flight around this hook (before it in 0.14, after it in
    // 1.x): they are its to finish, not ours.
    in_flight_.clear();
    if (stopping_) return;
    if (reconnect_at_once) {
      last_quick_reconnect_ = now;
      spdlog::info("{}: the connection was lost ({}); connecting again", endpoint_.display(),
                   context->err ? context->errstr : "closed");
      // Not from inside hiredis's cleanup of the old context.
      boost::asio::post(loop_->context(), [this] {
        if (!stopping_) connect();
      });
      return;
    }
    attempt_failed(why);
  }

  void attempt_failed(const Error& why) {
    if (!outage_) {
      outage_since_ = RedisClock::now();
      if (why.category == ErrorCategory::kBridgeUnavailable) {
        spdlog::warn("{}", why.message);
      } else {
        spdlog::error("{}", why.message);
      }
    }
    outage_ = why;
    fail_waiting(why);
    const auto delay = backoff_.next();
    reconnect_timer_->expires_after(delay);
    reconnect_timer_->async_wait([this](const boost::system::error_code& error) {
      if (!error && !stopping_) connect();
    });
  }

  void fail_waiting(const Error& why) {
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& command : waiting) command.done(why);
  }

  void arm_command_timer() {
    if (command_timer_armed_ || in_flight_.empty()) return;
    command_timer_armed_ = true;
    command_timer_->expires_at(in_flight_.front()->deadline);
    command_timer_->async_wait([this](const boost::system::error_code& error) {
      command_timer_armed_ = false;
      if (error || stopping_ || in_flight_.empty()) return;
      // Replies come in order: when the oldest command is past its deadline, Redis is hung (or
      // the network is), and every later command waits behind it.
      if (in_flight_.front()->deadline <= RedisClock::now()) {
        drop_connection(redis_errors::no_answer(endpoint_, options_.command_timeout));
      } else {
        arm_command_timer();
      }
    });
  }

  void arm_waiting_timer() {
    if (waiting_timer_armed_ || waiting_.empty()) return;
    waiting_timer_armed_ = true;
    waiting_timer_->expires_at(waiting_.front().deadline);
    waiting_timer_->async_wait([this](const boost::system::error_code& error) {
      waiting_timer_armed_ = false;
      if (error || stopping_) return;
      const auto now = RedisClock::now();
      std::vector<Waiting> expired;
      while (!waiting_.empty() && waiting_.front().deadline <= now) {
        expired.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
      if (!expired.empty()) {
        const Error why = redis_errors::unreachable(
            endpoint_,
            "not connected within " + std::to_string(options_.connect_timeout.count()) + " ms");
        for (auto& command : expired) command.done(why);
      }
      arm_waiting_timer();
    });
  }

  void teardown() {
    stopping_ = true;
    const Error why = redis_errors::stopped(endpoint_);
    drop_connection(why);
    fail_waiting(why);
    connect_timer_.reset();
    command_timer_.reset();
    waiting_timer_.reset();
    reconnect_timer_.reset();
  }

  const RedisEndpoint endpoint_;
  const RedisClientOptions options_;
  // Declared first, destroyed last: everything below lives on its io_context.
  std::unique_ptr<runtime::EventLoop> loop_;

  std::mutex stop_mutex_;
  bool stopped_ = false;  // guarded by stop_mutex_: no post to the loop after it is set
  bool started_ = false;  // guarded by stop_mutex_
  std::atomic<bool> connected_{false};

  // The loop thread's state.
  std::optional<boost::asio::steady_timer> connect_timer_;
  std::optional<boost::asio::steady_timer> command_timer_;
  std::optional<boost::asio::steady_timer> waiting_timer_;
  std::optional<boost::asio::steady_timer> reconnect_timer_;
  bool command_timer_armed_ = false;
  bool waiting_timer_armed_ = false;
  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<RedisAsioAdapter> adapter_;
  std::uint64_t attempt_ = 0;  // which connect the connect timer belongs to
  bool ready_ = false;
  bool stopping_ = false;
  std::optional<Error> drop_reason_;  // why drop_connection() ends the current context
  std::optional<Error> outage_;       // set while Redis is unreachable: the latest reason
  std::optional<RedisClock::time_point> last_quick_reconnect_;
  RedisClock::time_point outage_since_;
  std::deque<Sent*> in_flight_;  // oldest first; owned by hiredis until their callbacks
  std::deque<Waiting> waiting_;
  ReconnectBackoff backoff_;
};

std::shared_ptr<RedisClient> RedisClient::create(RedisEndpoint endpoint,
                                                 RedisClientOptions options) {
  return std::shared_ptr<RedisClient>(new RedisClient(std::move(endpoint), options));
}

RedisClient::RedisClient(RedisEndpoint endpoint, RedisClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(endpoint), options)) {}

RedisClient::~RedisClient() { impl_->stop(); }

void RedisClient::start() { impl_->start(); }

void RedisClient::command(std::vector<std::string> argv, Callback done) {
  impl_->command(std::move(argv), std::move(done));
}

RedisScript RedisClient::script(std::string lua) {
  return RedisScript(weak_from_this(), std::move(lua));
}

bool RedisClient::connected() const { return impl_->connected(); }

void RedisClient::stop() { impl_->stop(); }

const RedisEndpoint& RedisClient::endpoint() const { return impl_->endpoint(); }

}  // namespace mlbridge::store
