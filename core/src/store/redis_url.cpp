#include "mlbridge/store/redis_url.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace mlbridge::store {
namespace {

constexpr std::string_view kRedisScheme = "redis://";
constexpr std::string_view kRedisExpectedForm =
    "expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], e.g. "
    "redis://:${REDIS_PASSWORD}@10.0.0.5:6379/0";

bool all_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The URL as messages may show it, whatever its scheme: the credentials before the last '@'
// become USER:***, and without an '@', whatever stands where the port belongs but is not a
// number (a password that lost its '@') becomes ***.
std::string redacted_redis_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  const std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const std::string prefix(url.substr(0, start));
  const std::string_view rest = url.substr(start);
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view user_info = rest.substr(0, at);
    const auto colon = user_info.find(':');
    const std::string user =
        colon == std::string_view::npos ? "" : std::string(user_info.substr(0, colon));
    return prefix + user + ":***" + std::string(rest.substr(at));
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string tail(slash == std::string_view::npos ? "" : rest.substr(slash));
  const auto close = authority.rfind(']');
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || (close != std::string_view::npos && colon < close)) {
    return std::string(url);
  }
  const std::string_view port = authority.substr(colon + 1);
  if (colon == 0) return prefix + "***" + tail;
  if (all_digits(port) && port.size() <= 5) return std::string(url);
  return prefix + std::string(authority.substr(0, colon + 1)) + "***" + tail;
}

Unexpected bad_redis_url(std::string_view url, std::string_view problem) {
  return fail(ErrorCategory::kInvalidConfiguration, "Redis URL '" + redacted_redis_url(url) +
                                                        "': " + std::string(problem) + "; " +
                                                        std::string(kRedisExpectedForm));
}

// A part of the URL as a message may quote it: numbers only, so that a password typed where the
// port or database belongs is not shown.
std::string quoted_url_part(std::string_view part) {
  return !part.empty() && all_digits(part) && part.size() <= 12 ? " '" + std::string(part) + "'"
                                                                : std::string();
}

// A whole decimal number in [low, high], or nullopt.
std::optional<int> parse_url_number(std::string_view text, int low, int high) {
  int value = 0;
  const auto* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc{} || stop != end || value < low || value > high) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string RedisEndpoint::display() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return "redis " + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" +
         std::to_string(db);
}

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  if (url.starts_with("rediss://")) {
    return bad_redis_url(url,
                         "TLS (rediss://) is not supported; reach Redis over redis:// (a private "
                         "network, or a TLS tunnel such as stunnel on this machine)");
  }
  if (url.starts_with("unix://") || url.starts_with("/")) {
    return bad_redis_url(url, "unix sockets are not supported; use Redis's TCP port");
  }
  if (!url.starts_with(kRedisScheme)) return bad_redis_url(url, "it does not start with redis://");
  std::string_view rest = url.substr(kRedisScheme.size());

  RedisEndpoint endpoint;
  // The last '@' ends the credentials: a password may hold '@', ':' or '/', a host never does.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view user_info = rest.substr(0, at);
    const auto colon = user_info.find(':');
    if (colon == std::string_view::npos) {
      return bad_redis_url(url, "the part before '@' must be ':PASSWORD' or 'USER:PASSWORD'");
    }
    endpoint.user = std::string(user_info.substr(0, colon));
    endpoint.password = std::string(user_info.substr(colon + 1));
    if (endpoint.password.empty()) {
      return bad_redis_url(url, "the password after ':' is empty (is the variable in ${...} set?)");
    }
    rest = rest.substr(at + 1);
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad_redis_url(url, "options after '?' or '#' are not supported");
  }

  std::string_view address = rest;
  std::string_view db_text;
  bool has_db = false;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    address = rest.substr(0, slash);
    db_text = rest.substr(slash + 1);
    has_db = true;
  }

  std::string_view port_text;
  bool has_port = false;
  if (address.starts_with("[")) {
    const auto close = address.find(']');
    if (close == std::string_view::npos) {
      return bad_redis_url(url, "the IPv6 address has no closing ']'");
    }
    endpoint.host = std::string(address.substr(1, close - 1));
    const std::string_view after = address.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad_redis_url(url, "only ':PORT' may follow the IPv6 address");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = address.find(':');
    if (colon != std::string_view::npos && address.find(':', colon + 1) != std::string_view::npos) {
      return bad_redis_url(url, "an IPv6 address must be written in brackets, e.g. [::1]:6379");
    }
    endpoint.host = std::string(address.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = address.substr(colon + 1);
      has_port = true;
    }
  }
  if (endpoint.host.empty()) return bad_redis_url(url, "the host is missing");

  if (has_port) {
    const auto port = parse_url_number(port_text, 1, 65535);
    if (!port) {
      return bad_redis_url(
          url, "the port" + quoted_url_part(port_text) + " is not a number from 1 to 65535");
    }
    endpoint.port = *port;
  }
  if (has_db && !db_text.empty()) {
    const auto db = parse_url_number(db_text, 0, 1'000'000'000);
    if (!db) {
      return bad_redis_url(url, "the database" + quoted_url_part(db_text) +
                                    " after '/' is not a number (0, 1, 2, ...)");
    }
    endpoint.db = *db;
  }
  return endpoint;
}

}  // namespace mlbridge::store
