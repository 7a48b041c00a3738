#include "session_header.hpp"

namespace mlbridge::server {
namespace {

// At most this much of a client's id is quoted back in an error.
constexpr std::size_t kQuotedIdChars = 130;

std::string quote_id(std::string_view id) {
  return "'" + std::string(id.substr(0, kQuotedIdChars)) +
         (id.size() > kQuotedIdChars ? "...'" : "'");
}

}  // namespace

Result<std::optional<std::string>> session_of_request(const HttpRequest& request,
                                                      const std::optional<std::string>& other,
                                                      std::string_view other_place) {
  const auto header = request.header(kSessionHeader);
  if (!header) return other;
  if (header->empty()) {
    return fail(ErrorCategory::kInvalidArgument,
                std::string("the ") + kSessionHeader +
                    " header is empty: send a session id there, or leave the header out");
  }
  if (other && *other != *header) {
    return fail(ErrorCategory::kInvalidArgument,
                std::string("the ") + kSessionHeader + " header names session " +
                    quote_id(*header) + " but " + std::string(other_place) + " names session " +
                    quote_id(*other) + "; send one id (or the same id in both)");
  }
  return std::optional<std::string>(std::string(*header));
}

}  // namespace mlbridge::server
