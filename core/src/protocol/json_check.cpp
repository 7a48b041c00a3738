#include <simdjson.h>

#include <algorithm>

#include "mlbridge/protocol/transcode.hpp"
#include "padded_text.hpp"

namespace mlbridge::protocol {
namespace {

bool parses(simdjson::dom::parser& parser, std::string_view text, std::size_t max_depth) {
  if (parser.max_depth() != max_depth &&
      parser.allocate(std::max(parser.capacity(), text.size()), max_depth) != simdjson::SUCCESS) {
    return false;
  }
  const simdjson::padded_string_view padded = detail::padded_copy(text);
  simdjson::dom::element root;
  return parser.parse(padded.data(), padded.length(), false).get(root) == simdjson::SUCCESS;
}

}  // namespace

bool is_json_value(std::string_view text, std::size_t max_depth) {
  if (text.empty() || max_depth == 0) return false;
  if (text.size() <= detail::kReusedParserBytes) {
    thread_local simdjson::dom::parser parser;
    return parses(parser, text, max_depth);
  }
  simdjson::dom::parser parser;
  return parses(parser, text, max_depth);
}

}  // namespace mlbridge::protocol
