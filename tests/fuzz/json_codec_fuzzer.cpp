// Fuzzes the JSON codec's decoder (decode_payload with Codec::kJson, `__bytes__` base64 included)
// and the round trip through encode_frame.

#include "codec_round_trip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mlbridge::fuzz::check_round_trip({data, size}, mlbridge::protocol::Codec::kJson);
  return 0;
}
