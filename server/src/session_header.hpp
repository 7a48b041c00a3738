#pragma once

// The session a request names in the X-Mlbridge-Session header (docs/http-api.md, "Sessions"):
// a session-affine load balancer (HAProxy hashing on that header, docs/cluster.md) routes by it,
// so a client may send the id there as well as in the body or the path. Private to the server
// library; plain functions, any thread.

#include <optional>
#include <string>
#include <string_view>

#include "http_message.hpp"
#include "mlbridge/errors/result.hpp"

namespace mlbridge::server {

/// The header's name, as clients send it (matched case-insensitively).
inline constexpr const char* kSessionHeader = "X-Mlbridge-Session";

/// The one session id of a request that may name it in the header and in `other` (the body's
/// "session" or "id", or the path's id; nullopt when absent there). `other_place` says where
/// `other` came from, for the message ("the body's \"session\"", "the path"). Returns the id
/// (nullopt when neither names one); invalid_argument when the header is empty, or when both
/// name a session and the ids differ (the message names both). The id itself is checked later,
/// by the Host (session::check_session_id).
Result<std::optional<std::string>> session_of_request(const HttpRequest& request,
                                                      const std::optional<std::string>& other,
                                                      std::string_view other_place);

}  // namespace mlbridge::server
