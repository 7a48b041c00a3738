#pragma once

/// @file
/// Where the Redis session store lives: `host.session_store` parsed into an endpoint. Plain
/// values and a pure function; any thread.

#include <string>
#include <string_view>

#include "mlbridge/errors/result.hpp"

namespace mlbridge::store {

/// One Redis server: address, database and credentials. The password is kept for AUTH only and
/// never appears in display() or in any message.
struct RedisEndpoint {
  std::string host;      ///< Host name, IPv4 address, or IPv6 address without brackets.
  int port = 6379;       ///< TCP port.
  int db = 0;            ///< Database number for SELECT.
  std::string password;  ///< Empty: no AUTH.
  std::string user;      ///< ACL user name; empty: AUTH with the password alone.

  /// "redis 127.0.0.1:6379/0" ("redis [::1]:6379/0" for IPv6): how logs and errors name it.
  std::string display() const;
};

/// Parses `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`. The password is everything between the
/// first ':' of the user part and the last '@' of the URL, taken literally (no percent-decoding),
/// so a password from ${VAR} may hold any character. HOST may be an IPv6 address in brackets.
/// Fails with invalid_configuration naming the bad part and showing the expected form; the
/// password is never echoed.
Result<RedisEndpoint> parse_redis_url(std::string_view url);

}  // namespace mlbridge::store
