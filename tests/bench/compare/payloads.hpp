#pragma once

// The arguments of the payload echoes: {"data": <size bytes>} and {"data": nested JSON-like
// records}, the latter about `size` bytes once serialized as JSON. Pure functions.

#include <cstddef>
#include <nlohmann/json.hpp>

namespace mlbridge::bench {

nlohmann::json bytes_args(std::size_t size);
nlohmann::json nested_args(std::size_t size);

}  // namespace mlbridge::bench
