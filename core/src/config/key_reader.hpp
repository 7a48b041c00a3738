#pragma once

// Private to core/src/config: reads one key of a bridge's configuration as its KeySpec says
// (type, range, the checks of its kind) into the BridgeConfig member the spec names, with
// ValueReader's "FILE:LINE:COL: path what" errors.

#include "mlbridge/config/bridge_keys.hpp"
#include "mlbridge/errors/result.hpp"
#include "value_reader.hpp"

namespace mlbridge::config::detail {

/// Checks `value` against `key` and stores it in `config`. Fails with invalid_configuration at
/// the value (or inside it: an element of a list, a member of a map).
Status read_key(const KeySpec& key, const ValueReader& value, BridgeConfig& config);

}  // namespace mlbridge::config::detail
