#include "payloads.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mlbridge::bench {

using nlohmann::json;

json bytes_args(std::size_t size) {
  return {{"data", json::binary(std::vector<std::uint8_t>(size, 0x5a))}};
}

json nested_args(std::size_t size) {
  // A record like the rows of a typical API payload: numbers, strings, a list and a sub-object.
  auto record = [](std::size_t i) {
    return json{{"id", i},
                {"name", "record-" + std::to_string(i)},
                {"score", static_cast<double>(i) * 0.25},
                {"tags", {"alpha", "beta", "gamma"}},
                {"attrs", {{"x", i}, {"y", {1, 2, 3}}, {"ok", true}}}};
  };
  const std::size_t per_record = record(100000).dump().size() + 1;
  const std::size_t count = std::max<std::size_t>(1, size / per_record);
  json items = json::array();
  for (std::size_t i = 0; i < count; ++i) items.push_back(record(i));
  return {{"data", {{"items", std::move(items)}}}};
}

}  // namespace mlbridge::bench
