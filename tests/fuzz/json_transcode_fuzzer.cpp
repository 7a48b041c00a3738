// Fuzzes the DOM-free transcoder (mlbridge/protocol/transcode.hpp) against the DOM path it
// replaces. For any input: json_to_msgpack accepts exactly what nlohmann's parse +
// from_plain_json accept (within the nesting limit); what it writes decodes to the DOM's value;
// and json -> msgpack -> json prints text that parses (with __bytes__ read back) to that value
// too. Keys may come in another order than the DOM's, so values are compared, not bytes.

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/nesting.hpp"
#include "mlbridge/protocol/transcode.hpp"
#include "msgpack_reader.hpp"

namespace {

using mlbridge::protocol::json;

std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// nlohmann's value for `text`, bytes included; discarded when the DOM path refuses it. A raw NUL
// byte is refused too: JSON allows none, and the transcoder refuses it, where nlohmann's lexer
// takes it for the end of the input and accepts "45\0garbage" as 45.
json dom_value(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return json(json::value_t::discarded);
  if (mlbridge::protocol::json_nesting_depth(text) > mlbridge::protocol::kMaxNesting) {
    return json(json::value_t::discarded);
  }
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return value;
  if (!mlbridge::protocol::from_plain_json(value)) return json(json::value_t::discarded);
  return value;
}

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json expected = dom_value(text);
  auto msgpack = mlbridge::protocol::json_to_msgpack(text);
  require(msgpack.ok() == !expected.is_discarded());
  if (!msgpack) return 0;

  auto decoded = mlbridge::protocol::read_msgpack(as_bytes(*msgpack));
  require(decoded.has_value() && *decoded == expected);

  auto back = mlbridge::protocol::msgpack_to_json(*msgpack);
  require(back.ok());
  json reparsed = json::parse(*back, nullptr, /*allow_exceptions=*/false);
  require(!reparsed.is_discarded() && mlbridge::protocol::from_plain_json(reparsed).ok());
  require(reparsed == expected);
  return 0;
}
