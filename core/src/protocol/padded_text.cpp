#include "padded_text.hpp"

#include <cstring>
#include <memory>

namespace mlbridge::protocol::detail {

simdjson::padded_string_view padded_copy(std::string_view text) {
  thread_local std::unique_ptr<char[]> buffer;
  thread_local std::size_t capacity = 0;
  const std::size_t needed = text.size() + simdjson::SIMDJSON_PADDING;
  if (needed > capacity) {
    buffer = std::make_unique_for_overwrite<char[]>(needed);
    capacity = needed;
  }
  std::memcpy(buffer.get(), text.data(), text.size());
  std::memset(buffer.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  return simdjson::padded_string_view(buffer.get(), text.size(), capacity);
}

}  // namespace mlbridge::protocol::detail
