#include "redis_asio_adapter.hpp"

#include <poll.h>

#include <boost/asio/post.hpp>

namespace mlbridge::store {
namespace {

// Asio registers the socket with epoll edge-triggered and async_wait never looks before it
// waits, so readiness that arrived while no wait was pending would be missed (hiredis reads at
// most 16 KiB per call, so a long reply leaves bytes behind with no new edge). Every wait is
// therefore preceded by a zero-timeout poll(). POLLERR and POLLHUP count as ready: hiredis then
// reads or writes and finds the error itself.
bool redis_socket_ready(int fd, short events) {
  pollfd entry{fd, events, 0};
  return ::poll(&entry, 1, 0) > 0;
}

}  // namespace

std::shared_ptr<RedisAsioAdapter> RedisAsioAdapter::attach(boost::asio::io_context& io,
                                                           redisAsyncContext* context,
                                                           DetachedHandler on_detached) {
  auto adapter = std::make_shared<RedisAsioAdapter>(io, context, std::move(on_detached));
  boost::system::error_code error;
  adapter->socket_.assign(context->c.fd, error);
  if (error) return nullptr;
  context->ev.data = adapter.get();
  context->ev.addRead = &RedisAsioAdapter::add_read;
  context->ev.delRead = &RedisAsioAdapter::del_read;
  context->ev.addWrite = &RedisAsioAdapter::add_write;
  context->ev.delWrite = &RedisAsioAdapter::del_write;
  context->ev.cleanup = &RedisAsioAdapter::cleanup;
  // The connect is in progress: writable means connected (or failed), as hiredis's own adapters
  // arm both directions at attach.
  add_read(adapter.get());
  add_write(adapter.get());
  return adapter;
}

RedisAsioAdapter::RedisAsioAdapter(boost::asio::io_context& io, redisAsyncContext* context,
                                   DetachedHandler on_detached)
    : io_(io), context_(context), socket_(io), on_detached_(std::move(on_detached)) {}

RedisAsioAdapter::~RedisAsioAdapter() {
  // hiredis owns the socket and closes it; the descriptor object must never close it too.
  if (socket_.is_open()) socket_.release();
}

void RedisAsioAdapter::add_read(void* self) {
  auto* adapter = static_cast<RedisAsioAdapter*>(self);
  adapter->want_read_ = true;
  adapter->arm(Direction::kRead);
}

void RedisAsioAdapter::del_read(void* self) {
  // A pending wait stays pending and is ignored when it fires: cancelling one direction of a
  // descriptor is not possible without cancelling both.
  static_cast<RedisAsioAdapter*>(self)->want_read_ = false;
}

void RedisAsioAdapter::add_write(void* self) {
  auto* adapter = static_cast<RedisAsioAdapter*>(self);
  adapter->want_write_ = true;
  adapter->arm(Direction::kWrite);
}

void RedisAsioAdapter::del_write(void* self) {
  static_cast<RedisAsioAdapter*>(self)->want_write_ = false;
}

void RedisAsioAdapter::cleanup(void* self) {
  auto* adapter = static_cast<RedisAsioAdapter*>(self);
  // The handler may drop the owner's reference to this adapter.
  const auto keep_alive = adapter->shared_from_this();
  adapter->detached_ = true;
  adapter->want_read_ = false;
  adapter->want_write_ = false;
  // Cancels the pending waits (they run later with operation_aborted) and leaves the socket to
  // hiredis, which closes it right after this hook.
  if (adapter->socket_.is_open()) adapter->socket_.release();
  // hiredis calls a hook only when it is set: none of them may reach this adapter again.
  auto& hooks = adapter->context_->ev;
  hooks.addRead = hooks.delRead = hooks.addWrite = hooks.delWrite = hooks.cleanup = nullptr;
  hooks.data = nullptr;
  auto on_detached = std::move(adapter->on_detached_);
  if (on_detached) on_detached(adapter->context_);
}

void RedisAsioAdapter::arm(Direction direction) {
  const bool read = direction == Direction::kRead;
  bool& armed = read ? read_armed_ : write_armed_;
  if (armed || detached_) return;
  armed = true;
  auto self = shared_from_this();
  if (redis_socket_ready(context_->c.fd, read ? POLLIN : POLLOUT)) {
    boost::asio::post(io_, [self, direction] { self->on_ready(direction, {}); });
    return;
  }
  socket_.async_wait(read ? boost::asio::posix::stream_descriptor::wait_read
                          : boost::asio::posix::stream_descriptor::wait_write,
                     [self, direction](const boost::system::error_code& error) {
                       self->on_ready(direction, error);
                     });
}

void RedisAsioAdapter::on_ready(Direction direction, const boost::system::error_code& error) {
  const bool read = direction == Direction::kRead;
  (read ? read_armed_ : write_armed_) = false;
  if (detached_ || error == boost::asio::error::operation_aborted) return;
  if (!(read ? want_read_ : want_write_)) return;
  // hiredis may clean the context up inside these calls (EOF, an error, a free from a reply
  // callback); `detached_` says so afterwards, and `self` keeps this object alive for it.
  const auto self = shared_from_this();
  if (read) {
    redisAsyncHandleRead(context_);
  } else {
    redisAsyncHandleWrite(context_);
  }
  if (!detached_ && (read ? want_read_ : want_write_)) arm(direction);
}

}  // namespace mlbridge::store
