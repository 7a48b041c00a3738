#pragma once

// Private to core/src/config: reads one value of a configuration document with the checks every
// key needs (type, range, allowed keys) and errors that say where, which key and what is
// expected: "config/x.yaml:12:7: bridges.dspy.pool.size must be a non-negative integer, got -1".

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mlbridge/config/source_map.hpp"
#include "mlbridge/errors/result.hpp"
#include "mlbridge/protocol/codec.hpp"

namespace mlbridge::config::detail {

using json = protocol::json;

/// How a value is shown after "got": "-1", "1.5", "a string (\"two\")", "a list", "null".
std::string describe_value(const json& value);

/// The candidate closest to `word` by edit distance, or "" when none is close enough to be a
/// plausible typo.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates);

/// "a, b, c".
std::string join(const std::vector<std::string_view>& items);

/// Whether `name` matches [A-Za-z0-9_-]+ (bridge and plugin names).
bool is_simple_name(std::string_view name);

/// Whether `name` is a valid environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(std::string_view name);

class ValueReader {
 public:
  /// `value` must outlive the reader. `map` may be null (a JSON body has no positions).
  /// `path` is the dotted name of `value` in messages ("" for a root); `context` names the root
  /// when the path alone would not say what it belongs to ("bridge 'dspy'"), or is "".
  ValueReader(const json& value, const SourceMap* map, std::string pointer, std::string path,
              std::string context);

  const json& value() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& pointer() const { return pointer_; }

  /// The reader of member `key` of this object value.
  ValueReader member(const std::string& key) const;
  /// The reader of element `index` of this array value.
  ValueReader element(std::size_t index) const;

  /// invalid_configuration "<file:line:col>: <path> <what>", at the value.
  Error error(const std::string& what) const;
  /// The same, located at the key that introduces the value when known.
  Error key_error(const std::string& what) const;

  /// An integer in [min, max]. Too small or not an integer: "must be a non-negative integer"
  /// (min 0), "a positive integer" (min 1), "an integer from MIN to MAX" (otherwise); too large:
  /// "must be at most MAX".
  Result<std::uint64_t> integer(std::uint64_t min, std::uint64_t max) const;
  Result<bool> boolean() const;
  Result<std::string> string() const;
  Result<std::string> non_empty_string() const;
  /// One of `choices`; otherwise lists them (and suggests the closest).
  Result<std::string> choice(const std::vector<std::string_view>& choices) const;
  /// A list of non-empty strings; with `env_names`, each must be a variable name.
  Result<std::vector<std::string>> string_list(bool env_names = false) const;

  /// Visits the members of an object in document order (key order when there are no positions);
  /// null counts as an empty object. Fails on a non-object value and on the first key not in
  /// `allowed`, naming the closest allowed key and listing all of them.
  Status for_each_member(
      const std::vector<std::string_view>& allowed,
      const std::function<Status(const std::string& key, const ValueReader& member)>& visit) const;
  /// The same without a key list: every key is visited.
  Status for_each_member(
      const std::function<Status(const std::string& key, const ValueReader& member)>& visit) const;

 private:
  Error error_at(const std::string& where, const std::string& what) const;

  const json* value_;
  const SourceMap* map_;
  std::string pointer_;
  std::string path_;
  std::string context_;
};

}  // namespace mlbridge::config::detail
