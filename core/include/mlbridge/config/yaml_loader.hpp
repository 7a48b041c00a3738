#pragma once

/// @file
/// YAML text → JSON value, with the position of every value recorded in a SourceMap. Maps become
/// objects, sequences arrays; plain scalars take the YAML 1.2 core types (true/false, null/~,
/// integers, floats, else strings), while quoted and block scalars are always strings.
/// `${VAR}` and `${VAR:-default}` are expanded in scalar values (not keys); a plain scalar is
/// typed after expansion, so `size: ${POOL_SIZE:-2}` is the integer 2.
/// Stateless free functions; any thread (see env_expansion.hpp about the environment).

#include <string>
#include <string_view>

#include "mlbridge/config/env_expansion.hpp"
#include "mlbridge/config/source_map.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::config {

using json = protocol::json;

/// Reads and parses the file at `path`; sets `map.file` to `path` and fills `map.positions`.
/// Fails with invalid_configuration: "config file 'x' not found", a YAML syntax error
/// ("FILE:LINE:COL: invalid YAML: <parser message>"), a duplicate key, an unset variable, or a
/// top level that is not a map. An empty file is an empty map.
Result<json> load_yaml_file(const std::string& path, SourceMap& map);

/// Parses `text`; `source_name` names it in messages and becomes `map.file` ("" for none).
Result<json> parse_yaml(std::string_view text, const std::string& source_name, SourceMap& map);

/// As above, with the variables of `${...}` looked up through `lookup` instead of the process
/// environment.
Result<json> parse_yaml(std::string_view text, const std::string& source_name, SourceMap& map,
                        const EnvLookup& lookup);

/// The YAML 1.2 core-schema value of a plain (unquoted) scalar: "true" → true, "~" → null,
/// "0x1f" → 31, "1e3" → 1000.0, "-.inf" → -infinity, "yes" → "yes".
json resolve_plain_scalar(std::string_view text);

}  // namespace mlbridge::config
