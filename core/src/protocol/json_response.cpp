#include "mlbridge/protocol/json_response.hpp"

#include <charconv>
#include <string_view>

namespace mlbridge::protocol {
namespace {

constexpr std::string_view kHead = R"({"type":"response","id":)";
constexpr std::string_view kMiddle = R"(,"success":true,"result":)";

}  // namespace

std::optional<ResponseResultSpan> locate_json_response_result(
    std::span<const std::uint8_t> payload) {
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (!text.starts_with(kHead) || !text.ends_with('}')) return std::nullopt;
  const char* const digits = text.data() + kHead.size();
  const char* const last = text.data() + text.size() - 1;  // the envelope's closing brace
  ResponseResultSpan span;
  const auto [after_id, error] = std::from_chars(digits, last, span.id);
  if (error != std::errc{} || (*digits == '0' && after_id - digits > 1)) return std::nullopt;
  const std::string_view rest(after_id, static_cast<std::size_t>(last - after_id));
  if (!rest.starts_with(kMiddle) || rest.size() == kMiddle.size()) return std::nullopt;
  span.begin = static_cast<std::size_t>(after_id - text.data()) + kMiddle.size();
  span.end = text.size() - 1;
  span.plain_success = true;
  return span;
}

}  // namespace mlbridge::protocol
