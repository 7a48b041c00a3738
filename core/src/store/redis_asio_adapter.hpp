#pragma once

// Drives a hiredis redisAsyncContext from a Boost.Asio io_context: hiredis's event hooks
// (addRead/delRead/addWrite/delWrite/cleanup, as in hiredis/adapters/*.h) become async_wait
// calls on a posix::stream_descriptor over the context's socket. Private to the Redis client;
// everything here runs on the io_context's one thread.

#include <hiredis/async.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>

namespace mlbridge::store {

class RedisAsioAdapter : public std::enable_shared_from_this<RedisAsioAdapter> {
 public:
  /// Called once when hiredis cleans the context up (it is still valid during the call, and
  /// freed right after): the connection is gone, whoever ended it.
  using DetachedHandler = std::function<void(redisAsyncContext*)>;

  /// Attaches to `context`, whose socket hiredis has just opened (connect in progress), and
  /// waits for it to become readable and writable, as the connect needs. nullptr if Asio cannot
  /// take the socket (the caller then frees the context). The context keeps a
  /// raw pointer to the adapter; the returned pointer (and pending waits) keep it alive.
  static std::shared_ptr<RedisAsioAdapter> attach(boost::asio::io_context& io,
                                                  redisAsyncContext* context,
                                                  DetachedHandler on_detached);

  RedisAsioAdapter(boost::asio::io_context& io, redisAsyncContext* context,
                   DetachedHandler on_detached);
  ~RedisAsioAdapter();
  RedisAsioAdapter(const RedisAsioAdapter&) = delete;
  RedisAsioAdapter& operator=(const RedisAsioAdapter&) = delete;

 private:
  enum class Direction { kRead, kWrite };

  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);

  void arm(Direction direction);
  void on_ready(Direction direction, const boost::system::error_code& error);

  boost::asio::io_context& io_;
  redisAsyncContext* context_;
  boost::asio::posix::stream_descriptor socket_;
  DetachedHandler on_detached_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool detached_ = false;
};

}  // namespace mlbridge::store
