// Fuzzes the MessagePack codec's decoder (decode_payload with Codec::kMsgpack) and the round trip
// through encode_frame.

#include "codec_round_trip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mlbridge::fuzz::check_round_trip({data, size}, mlbridge::protocol::Codec::kMsgpack);
  return 0;
}
