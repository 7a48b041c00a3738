#include "mlbridge/config/yaml_loader.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace mlbridge::config {
namespace {

// Configuration nests a handful of levels; the limit only stops a recursive alias (`&a [*a]`,
// which yaml-cpp turns into a cycle) or a hostile file from exhausting the stack.
constexpr int kMaxDepth = 128;

constexpr std::string_view kStandardTagPrefix = "tag:yaml.org,2002:";

std::pair<int, int> position_of(const YAML::Mark& mark) { return {mark.line + 1, mark.column + 1}; }

std::string format_mark(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return file;
  const std::string position =
      std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  return file.empty() ? position : file + ":" + position;
}

std::string prefixed(const std::string& where, const std::string& message) {
  return where.empty() ? message : where + ": " + message;
}

std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar ('" + node.Scalar() + "')";
    default:
      return "nothing";
  }
}

bool all_of_chars(std::string_view text, bool (*pred)(char)) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!pred(c)) return false;
  }
  return true;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_octal(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_core_float(std::string_view text) {
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  std::size_t int_digits = 0;
  while (i < text.size() && is_digit(text[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && is_digit(text[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < text.size() && is_digit(text[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == text.size();
}

json parse_float(std::string_view text) {
  // The text already matches the core-schema grammar, which strtod accepts (leading '+' too).
  return std::strtod(std::string(text).c_str(), nullptr);
}

// `digits` is `text` without a 0x / 0o prefix; `text` is what a value out of range falls back to.
json parse_integer(std::string_view text, std::string_view digits, int base) {
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  std::uint64_t magnitude = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc() && end == digits.data() + digits.size()) {
    if (!negative) return magnitude;
    constexpr auto kMinMagnitude =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
    if (magnitude < kMinMagnitude) return -static_cast<std::int64_t>(magnitude);
    if (magnitude == kMinMagnitude) return std::numeric_limits<std::int64_t>::min();
  }
  // Out of the 64-bit range: keep the magnitude as a float, as YAML parsers in other languages do.
  if (base == 10) return parse_float(text);
  return std::string(text);
}

class Converter {
 public:
  Converter(SourceMap& map, const EnvLookup& lookup) : map_(map), lookup_(lookup) {}

  Result<json> convert(const YAML::Node& node, const std::string& pointer, const std::string& path,
                       int depth) {
    if (depth > kMaxDepth) {
      return error_at(node.Mark(), path,
                      "nests more than " + std::to_string(kMaxDepth) +
                          " levels deep (is an alias referring to itself?)");
    }
    if (!pointer.empty() && !map_.positions.count(pointer)) {
      map_.positions[pointer] = position_of(node.Mark());
    }
    if (auto status = check_tag(node, path); !status) return std::move(status).error();
    switch (node.Type()) {
      case YAML::NodeType::Map:
        return convert_map(node, pointer, path, depth);
      case YAML::NodeType::Sequence:
        return convert_sequence(node, pointer, path, depth);
      case YAML::NodeType::Scalar:
        return convert_scalar(node, path);
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        if (node.Tag() == std::string(kStandardTagPrefix) + "str") return json("");
        return json(nullptr);
    }
    return json(nullptr);
  }

 private:
  Unexpected error_at(const YAML::Mark& mark, const std::string& path, const std::string& what) {
    const std::string subject = path.empty() ? "the document" : path;
    return fail(ErrorCategory::kInvalidConfiguration,
                prefixed(format_mark(map_.file, mark), subject + " " + what));
  }

  Status check_tag(const YAML::Node& node, const std::string& path) {
    const std::string& tag = node.Tag();
    if (tag.empty() || tag == "?" || tag == "!") return Ok{};
    if (tag.rfind(kStandardTagPrefix, 0) == 0) {
      const std::string_view kind = std::string_view(tag).substr(kStandardTagPrefix.size());
      const bool fits = node.IsMap()        ? kind == "map"
                        : node.IsSequence() ? kind == "seq"
                        : node.IsNull()     ? kind == "null" || kind == "str"
                                            : kind == "str" || kind == "int" || kind == "float" ||
                                              kind == "bool" || kind == "null";
      if (fits) return Ok{};
    }
    return error_at(node.Mark(), path,
                    "has the tag '" + tag +
                        "', which mlbridge does not support (configuration is plain YAML: maps, "
                        "lists, strings, numbers, booleans and null)");
  }

  Result<json> convert_map(const YAML::Node& node, const std::string& pointer,
                           const std::string& path, int depth) {
    json object = json::object();
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // copies: the iterator hands out a temporary pair
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        return error_at(key.Mark(), path,
                        "has a key that is " + describe_node(key) + "; keys must be strings");
      }
      const std::string& name = key.Scalar();
      const std::string child_pointer = append_pointer(pointer, name);
      const std::string child_path = path.empty() ? name : path + "." + name;
      if (object.contains(name)) {
        const auto first = map_.key_positions[child_pointer];
        return error_at(key.Mark(), path,
                        "repeats the key '" + name + "' (first written at line " +
                            std::to_string(first.first) + ", column " +
                            std::to_string(first.second) + "); each key may appear once");
      }
      map_.key_positions[child_pointer] = position_of(key.Mark());
      // An empty value (`key:`) has no position of its own; yaml-cpp reports the next token's.
      if (value.IsNull()) map_.positions[child_pointer] = position_of(key.Mark());
      auto converted = convert(value, child_pointer, child_path, depth + 1);
      if (!converted) return converted;
      object[name] = std::move(*converted);
    }
    return object;
  }

  Result<json> convert_sequence(const YAML::Node& node, const std::string& pointer,
                                const std::string& path, int depth) {
    json array = json::array();
    std::size_t index = 0;
    for (const auto& element : node) {
      const std::string child_pointer = append_pointer(pointer, std::to_string(index));
      auto converted =
          convert(element, child_pointer, path + "[" + std::to_string(index) + "]", depth + 1);
      if (!converted) return converted;
      array.push_back(std::move(*converted));
      ++index;
    }
    return array;
  }

  Result<json> convert_scalar(const YAML::Node& node, const std::string& path) {
    const std::string& tag = node.Tag();
    std::string text = node.Scalar();
    if (has_env_reference(text)) {
      auto expanded = expand_env(text, lookup_);
      if (!expanded) {
        return fail(ErrorCategory::kInvalidConfiguration,
                    prefixed(format_mark(map_.file, node.Mark()),
                             (path.empty() ? "" : path + ": ") + expanded.error().message));
      }
      text = std::move(*expanded);
    }
    // yaml-cpp tags every plain scalar "?" and every quoted or block scalar "!".
    if (tag == "!" || tag == std::string(kStandardTagPrefix) + "str") return json(std::move(text));
    json value = resolve_plain_scalar(text);
    if (tag == "?" || tag.empty()) return value;
    const std::string_view kind = std::string_view(tag).substr(kStandardTagPrefix.size());
    const bool fits = (kind == "int" && value.is_number_integer()) ||
                      (kind == "float" && value.is_number()) ||
                      (kind == "bool" && value.is_boolean()) || (kind == "null" && value.is_null());
    if (!fits)
      return error_at(node.Mark(), path, "'" + text + "' is not a valid !!" + std::string(kind));
    if (kind == "float") return json(value.get<double>());
    return value;
  }

  SourceMap& map_;
  const EnvLookup& lookup_;
};

// Counts the documents of `text`, stopping at `at_most`. Not YAML::LoadAll: in Debian's yaml-cpp
// 0.7 it loops forever, filling memory, on some malformed input (found by the yaml_config
// fuzzer): HandleNextDocument keeps answering true with an empty document (fixed upstream by
// yaml-cpp PR #1319). Throws YAML::Exception for a syntax error, as LoadAll does.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::size_t count_documents(const std::string& text, std::size_t at_most) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentCounter counter;
  std::size_t documents = 0;
  while (documents < at_most && parser.HandleNextDocument(counter)) ++documents;
  return documents;
}

Result<json> parse_document(std::string_view text, const std::string& source_name, SourceMap& map,
                            const EnvLookup& lookup) {
  map.file = source_name;
  map.positions.clear();
  map.key_positions.clear();
  YAML::Node root;
  std::size_t documents = 0;
  try {
    const std::string copy(text);
    documents = count_documents(copy, 2);
    if (documents == 1) root = YAML::Load(copy);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCategory::kInvalidConfiguration,
                prefixed(format_mark(source_name, e.mark), "invalid YAML: " + e.msg));
  }
  const std::string name = source_name.empty() ? "the configuration" : source_name;
  if (documents == 0) return json::object();  // empty, or only comments: every default
  if (documents > 1) {
    return fail(ErrorCategory::kInvalidConfiguration,
                name +
                    " holds 2 YAML documents or more (separated by '---'), or text after its "
                    "first document that does not parse; a configuration is one document");
  }
  if (root.IsNull()) return json::object();
  if (!root.IsMap()) {
    return fail(ErrorCategory::kInvalidConfiguration,
                prefixed(format_mark(source_name, root.Mark()), "the top level of " + name +
                                                                    " must be a map of keys, got " +
                                                                    describe_node(root)));
  }
  try {
    Converter converter(map, lookup);
    return converter.convert(root, "", "", 0);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCategory::kInvalidConfiguration,
                prefixed(format_mark(source_name, e.mark), "invalid YAML: " + e.msg));
  }
}

}  // namespace

json resolve_plain_scalar(std::string_view text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  std::string_view unsigned_part = text;
  if (unsigned_part.front() == '-' || unsigned_part.front() == '+') unsigned_part.remove_prefix(1);
  if (all_of_chars(unsigned_part, is_digit)) return parse_integer(text, text, 10);
  if (text.size() > 2 && text.substr(0, 2) == "0o" && all_of_chars(text.substr(2), is_octal)) {
    return parse_integer(text, text.substr(2), 8);
  }
  if (text.size() > 2 && text.substr(0, 2) == "0x" && all_of_chars(text.substr(2), is_hex)) {
    return parse_integer(text, text.substr(2), 16);
  }
  if (is_core_float(text)) return parse_float(text);
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF") {
    return text.front() == '-' ? -std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::infinity();
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return std::string(text);
}

Result<json> parse_yaml(std::string_view text, const std::string& source_name, SourceMap& map,
                        const EnvLookup& lookup) {
  return parse_document(text, source_name, map, lookup);
}

Result<json> parse_yaml(std::string_view text, const std::string& source_name, SourceMap& map) {
  return parse_document(text, source_name, map, process_environment());
}

Result<json> load_yaml_file(const std::string& path, SourceMap& map) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) {
    std::string message = "config file '" + path + "' not found";
    if (fs::path(path).is_relative()) {
      message += " (relative to the working directory " + fs::current_path(ec).string() +
                 "; pass an absolute path or run from the project root)";
    }
    return fail(ErrorCategory::kInvalidConfiguration, std::move(message));
  }
  if (fs::is_directory(status)) {
    return fail(ErrorCategory::kInvalidConfiguration,
                "config file '" + path + "' is a directory; name the YAML file in it");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return fail(ErrorCategory::kInvalidConfiguration,
                "config file '" + path + "' cannot be read: " + std::strerror(errno));
  }
  return parse_document(text.str(), path, map, process_environment());
}

}  // namespace mlbridge::config
