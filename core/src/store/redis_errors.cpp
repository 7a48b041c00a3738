#include "redis_errors.hpp"

#include <string>

namespace mlbridge::store::redis_errors {

Error unreachable(const RedisEndpoint& endpoint, std::string_view reason) {
  return Error::make(ErrorCategory::kBridgeUnavailable,
                     endpoint.display() + " is unreachable (" + std::string(reason) +
                         "); session calls fail until it is back");
}

Error no_answer(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout) {
  return Error::make(ErrorCategory::kBridgeUnavailable,
                     endpoint.display() + " did not answer within " +
                         std::to_string(timeout.count()) +
                         " ms (hung or overloaded); the connection is dropped and made again, "
                         "and session calls fail until Redis answers");
}

Error password_refused(const RedisEndpoint& endpoint, std::string_view redis_error) {
  return Error::make(ErrorCategory::kAuthentication,
                     endpoint.display() + " refused the password (" + std::string(redis_error) +
                         "); check the password in host.session_store "
                         "(redis://[USER]:PASSWORD@HOST:PORT/DB)");
}

Error password_missing(const RedisEndpoint& endpoint, std::string_view redis_error) {
  return Error::make(ErrorCategory::kAuthentication,
                     endpoint.display() + " requires a password (" + std::string(redis_error) +
                         "); put it in host.session_store as redis://:PASSWORD@HOST:PORT/DB");
}

Error database_refused(const RedisEndpoint& endpoint, std::string_view redis_error) {
  return Error::make(ErrorCategory::kInvalidConfiguration,
                     endpoint.display() + " refused SELECT " + std::to_string(endpoint.db) + " (" +
                         std::string(redis_error) + "); check the /DB part of host.session_store");
}

Error too_many_waiting(const RedisEndpoint& endpoint, std::size_t waiting) {
  return Error::make(ErrorCategory::kBridgeUnavailable,
                     endpoint.display() + " is not connected yet and " + std::to_string(waiting) +
                         " commands already wait for it; session calls fail until it is up");
}

Error stopped(const RedisEndpoint& endpoint) {
  return Error::make(
      ErrorCategory::kBridgeUnavailable,
      "the connection to " + endpoint.display() + " is closed (the host is shutting down)");
}

}  // namespace mlbridge::store::redis_errors
