// Fuzzes the worker message parser: the first byte picks the codec, the rest is a payload that is
// decoded and read by parse_worker_message as the host's worker client does. A message that does
// not parse must fail with protocol_error; an error response is translated into a category.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "mlbridge/errors/translator.hpp"
#include "mlbridge/protocol/codec.hpp"
#include "mlbridge/protocol/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mlbridge::protocol;
  if (size < 1) return 0;
  const Codec codec = (data[0] & 1) != 0 ? Codec::kMsgpack : Codec::kJson;
  auto decoded = decode_payload(std::span<const std::uint8_t>(data + 1, size - 1), codec);
  if (!decoded) return 0;
  auto message = parse_worker_message(std::move(*decoded));
  if (!message) {
    if (message.error().category != mlbridge::ErrorCategory::kProtocolError) std::abort();
    return 0;
  }
  // A failed response becomes an error the way the worker client makes it, then goes through the
  // bridge's translator (builtin rules: regexes over the type and message).
  if (auto* response = std::get_if<Response>(&*message); response && !response->success) {
    const WireError& wire = response->error;
    mlbridge::Error error = mlbridge::Error::make(
        mlbridge::parse_error_category(wire.category).value_or(mlbridge::ErrorCategory::kInternal),
        wire.type + ": " + wire.message);
    error.python_type = wire.type;
    error.traceback = wire.traceback;
    static const mlbridge::errors::ErrorTranslator translator({}, {});
    (void)translator.translate(std::move(error)).describe();
  }
  return 0;
}
