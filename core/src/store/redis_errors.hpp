#pragma once

// The errors of the Redis client, worded in one place so that every path names Redis, its
// address and what to do the same way. Private to the client; pure functions, any thread.

#include <chrono>
#include <string_view>

#include "mlbridge/errors/error.hpp"
#include "mlbridge/store/redis_url.hpp"

namespace mlbridge::store::redis_errors {

/// bridge_unavailable: "redis HOST:PORT/DB is unreachable (REASON); session calls fail until it
/// is back".
Error unreachable(const RedisEndpoint& endpoint, std::string_view reason);

/// bridge_unavailable: Redis took longer than `timeout` to answer; the connection is made again.
Error no_answer(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout);

/// authentication: Redis refused the password (or the user) of host.session_store.
Error password_refused(const RedisEndpoint& endpoint, std::string_view redis_error);

/// authentication: Redis wants a password and host.session_store gives none.
Error password_missing(const RedisEndpoint& endpoint, std::string_view redis_error);

/// invalid_configuration: Redis refused SELECT of the database in host.session_store.
Error database_refused(const RedisEndpoint& endpoint, std::string_view redis_error);

/// bridge_unavailable: too many commands already wait for the first connection.
Error too_many_waiting(const RedisEndpoint& endpoint, std::size_t waiting);

/// bridge_unavailable: the client was stopped (the host is shutting down).
Error stopped(const RedisEndpoint& endpoint);

}  // namespace mlbridge::store::redis_errors
