#pragma once

/// @file
/// A Redis connection for the session store: libhiredis's async API driven by Boost.Asio on the
/// client's OWN event loop thread (named `mlbridge-redis`), so a slow or hung Redis never blocks a
/// pool's loop or an HTTP I/O thread.
///
/// Ownership and threads: create() returns a shared client; any thread may call start(),
/// command(), script(), connected() and stop(). Every callback runs on the client's loop thread,
/// exactly once, also when the command fails or the client stops. Callbacks must be quick (they
/// hold up every other reply), must not throw (they run inside hiredis, which is C), and must not
/// call stop() nor drop the last reference to the client (the loop thread would wait for itself).
///
/// Failures: a command while Redis is unreachable, a command that Redis does not answer within
/// command_timeout, and every command in flight when the connection is lost fail at once with
/// bridge_unavailable (retryable), the message naming Redis and its address. A refused password
/// fails them with authentication; a database Redis refuses with invalid_configuration. A Redis
/// error reply ("ERR ...", "NOSCRIPT ...") is NOT a failure: it is a RedisReply of Type::kError
/// and the caller decides. A command that timed out may still have run on Redis (it was sent):
/// writers use compare-and-set. The client reconnects by itself: at once when a working
/// connection ends, then with backoff (reconnect_min doubling to reconnect_max, jittered). It logs
/// once per outage (a warning naming Redis and why, an error for a refused password or database)
/// and once when Redis is back, never per command.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlbridge/errors/result.hpp"
#include "mlbridge/store/redis_url.hpp"

namespace mlbridge::store {

/// One reply of Redis, as RESP2 types it. A plain value; any thread.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string text;                  ///< kString, kStatus ("OK") and kError ("ERR ...").
  long long integer = 0;             ///< kInteger.
  std::vector<RedisReply> elements;  ///< kArray.
};

/// Timing of the connection.
struct RedisClientOptions {
  /// TCP connect plus AUTH, SELECT and a PING answered; also how long a command issued before
  /// the first connection is up may wait for it.
  std::chrono::milliseconds connect_timeout{1000};
  /// How long Redis may take to answer a command before the connection counts as hung: the
  /// command fails, every other command in flight with it, and the connection is made again.
  std::chrono::milliseconds command_timeout{1000};
  /// Wait before the first reconnect attempt; it doubles (with jitter) after each failed attempt.
  std::chrono::milliseconds reconnect_min{100};
  /// The longest wait between reconnect attempts.
  std::chrono::milliseconds reconnect_max{2000};
  /// Commands that may wait for the first connection; more fail at once.
  std::size_t max_waiting = 10000;
};

class RedisScript;

/// One connection to one Redis, made again whenever it is lost. Commands are pipelined on it in
/// the order they are issued (per issuing thread) and answered in that order.
class RedisClient : public std::enable_shared_from_this<RedisClient> {
 public:
  using Callback = std::function<void(Result<RedisReply>)>;

  /// A client that is not connecting yet: start() it. Starts the loop thread. Any thread.
  static std::shared_ptr<RedisClient> create(RedisEndpoint endpoint,
                                             RedisClientOptions options = {});
  /// stop()s. Must not run on the client's loop thread (see the file comment).
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /// Returns at once; connects (TCP, AUTH, SELECT, PING) in the background and keeps the
  /// connection up from then on. A second call does nothing. Any thread.
  void start();

  /// Sends `argv` (command name first; binary-safe strings) and calls `done` on the loop thread
  /// with the reply or the failure (see the file comment). Before the first connection is up the
  /// command waits for it, at most connect_timeout; so it does while a working connection that
  /// ended is made again at once. Once an attempt failed (Redis unreachable, hung, refusing the
  /// password), it fails at once until the client is connected again. After stop() it fails at
  /// once, on the calling thread. Any thread.
  void command(std::vector<std::string> argv, Callback done);

  /// A Lua script bound to this client: see RedisScript. Any thread.
  RedisScript script(std::string lua);

  /// True while the connection is up and ready for commands (AUTH, SELECT and PING done).
  /// Any thread; a hint, it may change right after.
  bool connected() const;

  /// Fails every command waiting or in flight (bridge_unavailable, "client stopped"), closes
  /// the connection and joins the loop thread. Idempotent. Any thread but the loop thread.
  void stop();

  /// Where this client connects.
  const RedisEndpoint& endpoint() const;

 private:
  class Impl;
  RedisClient(RedisEndpoint endpoint, RedisClientOptions options);
  std::unique_ptr<Impl> impl_;
};

/// A Lua script run by its SHA1 (EVALSHA), and by its source (EVAL) when Redis answers NOSCRIPT
/// (Redis restarted, or SCRIPT FLUSH: its script cache is empty), which loads it again. A value;
/// holds the client weakly (it never keeps a client alive). Any thread.
class RedisScript {
 public:
  RedisScript(std::weak_ptr<RedisClient> client, std::string source);

  /// The script's SHA1 in lower-case hex, as SCRIPT LOAD answers it.
  const std::string& sha1() const { return sha1_; }
  const std::string& source() const { return source_; }

  /// Runs the script with KEYS = `keys` and ARGV = `args`; `done` as for RedisClient::command
  /// (an error the script raises is a reply of Type::kError). A client that is gone fails it
  /// with bridge_unavailable, on the calling thread.
  void run(std::vector<std::string> keys, std::vector<std::string> args,
           RedisClient::Callback done) const;

 private:
  std::weak_ptr<RedisClient> client_;
  std::string source_;
  std::string sha1_;
};

}  // namespace mlbridge::store
