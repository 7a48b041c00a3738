#include "value_reader.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <utility>

namespace mlbridge::config::detail {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string describe_value(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return std::string("a boolean (") + (value.get<bool>() ? "true" : "false") + ")";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return value.dump();
    case json::value_t::string: {
      std::string text = value.get<std::string>();
      if (text.size() > 40) text = text.substr(0, 37) + "...";
      return "a string (\"" + text + "\")";
    }
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a map";
    default:
      return "binary data";
  }
}

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

bool is_simple_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

bool is_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front())) != 0) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

ValueReader::ValueReader(const json& value, const SourceMap* map, std::string pointer,
                         std::string path, std::string context)
    : value_(&value),
      map_(map),
      pointer_(std::move(pointer)),
      path_(std::move(path)),
      context_(std::move(context)) {}

ValueReader ValueReader::member(const std::string& key) const {
  return ValueReader(value_->at(key), map_, append_pointer(pointer_, key),
                     path_.empty() ? key : path_ + "." + key, context_);
}

ValueReader ValueReader::element(std::size_t index) const {
  return ValueReader(value_->at(index), map_, append_pointer(pointer_, std::to_string(index)),
                     path_ + "[" + std::to_string(index) + "]", context_);
}

Error ValueReader::error_at(const std::string& where, const std::string& what) const {
  std::string body;
  if (path_.empty()) {
    body = (context_.empty() ? std::string("the configuration") : context_) + " " + what;
  } else {
    body = (context_.empty() ? "" : context_ + ": ") + path_ + " " + what;
  }
  return Error::make(ErrorCategory::kInvalidConfiguration,
                     where.empty() ? body : where + ": " + body);
}

Error ValueReader::error(const std::string& what) const {
  return error_at(map_ ? map_->where(pointer_) : "", what);
}

Error ValueReader::key_error(const std::string& what) const {
  return error_at(map_ ? map_->where_key(pointer_) : "", what);
}

Result<std::uint64_t> ValueReader::integer(std::uint64_t min, std::uint64_t max) const {
  std::optional<std::uint64_t> number;
  if (value_->is_number_unsigned()) {
    number = value_->get<std::uint64_t>();
  } else if (value_->is_number_integer() && value_->get<std::int64_t>() >= 0) {
    number = static_cast<std::uint64_t>(value_->get<std::int64_t>());
  }
  if (number && *number >= min && *number <= max) return *number;
  return error("must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
               ", got " + describe_value(*value_));
}

Result<bool> ValueReader::boolean() const {
  if (value_->is_boolean()) return value_->get<bool>();
  return error("must be true or false, got " + describe_value(*value_));
}

Result<std::string> ValueReader::string() const {
  if (value_->is_string()) return value_->get<std::string>();
  return error("must be a string, got " + describe_value(*value_));
}

Result<std::string> ValueReader::non_empty_string() const {
  if (value_->is_string() && !value_->get_ref<const std::string&>().empty()) {
    return value_->get<std::string>();
  }
  return error("must be a non-empty string, got " + describe_value(*value_));
}

Result<std::string> ValueReader::choice(const std::vector<std::string_view>& choices) const {
  if (value_->is_string()) {
    const auto& text = value_->get_ref<const std::string&>();
    if (std::find(choices.begin(), choices.end(), text) != choices.end()) return text;
    const std::string suggestion = closest_match(text, choices);
    return error("must be one of " + join(choices) + ", got '" + text + "'" +
                 (suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)"));
  }
  return error("must be one of " + join(choices) + ", got " + describe_value(*value_));
}

Result<std::vector<std::string>> ValueReader::string_list(bool env_names) const {
  std::vector<std::string> items;
  if (value_->is_null()) return items;
  if (!value_->is_array()) {
    return error(std::string("must be a list of ") +
                 (env_names ? "environment variable names" : "strings") + ", got " +
                 describe_value(*value_));
  }
  for (std::size_t i = 0; i < value_->size(); ++i) {
    const ValueReader item = element(i);
    auto text = item.non_empty_string();
    if (!text) return std::move(text).error();
    if (env_names && !is_env_name(*text)) {
      return item.error(
          "must be an environment variable name (letters, digits and '_', not "
          "starting with a digit), got '" +
          *text + "'");
    }
    items.push_back(std::move(*text));
  }
  return items;
}

Status ValueReader::for_each_member(
    const std::function<Status(const std::string& key, const ValueReader& member)>& visit) const {
  if (value_->is_null()) return Ok{};
  if (!value_->is_object()) return error("must be a map of keys, got " + describe_value(*value_));
  std::vector<std::string> keys;
  for (const auto& item : value_->items()) keys.push_back(item.key());
  if (map_) {
    // nlohmann's objects are sorted by key; the positions restore the order of the document, so
    // that the first error reported is the first one a reader meets.
    const auto position = [&](const std::string& key) {
      const auto it = map_->key_positions.find(append_pointer(pointer_, key));
      return it == map_->key_positions.end()
                 ? std::pair<int, int>{std::numeric_limits<int>::max(), 0}
                 : it->second;
    };
    std::stable_sort(keys.begin(), keys.end(), [&](const std::string& a, const std::string& b) {
      return position(a) < position(b);
    });
  }
  for (const auto& key : keys) {
    if (auto status = visit(key, member(key)); !status) return status;
  }
  return Ok{};
}

Status ValueReader::for_each_member(
    const std::vector<std::string_view>& allowed,
    const std::function<Status(const std::string& key, const ValueReader& member)>& visit) const {
  return for_each_member([&](const std::string& key, const ValueReader& member) -> Status {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      const std::string suggestion = closest_match(key, allowed);
      return member.key_error(
          "is not a known key" +
          (suggestion.empty() ? std::string() : " (did you mean '" + suggestion + "'?)") +
          "; allowed keys" + (path_.empty() ? std::string() : " under " + path_) + ": " +
          join(allowed));
    }
    return visit(key, member);
  });
}

}  // namespace mlbridge::config::detail
