#include "mlbridge/config/env_expansion.hpp"

#include <cctype>
#include <cstdlib>

namespace mlbridge::config {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
  };
}

bool has_env_reference(std::string_view text) { return text.find("${") != std::string_view::npos; }

Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return fail(ErrorCategory::kInvalidConfiguration,
                  "'" + std::string(text.substr(i)) +
                      "' has no closing '}' (write ${NAME} or ${NAME:-default}; $${ for a "
                      "literal ${)");
    }
    const std::string_view inner = text.substr(i + 2, close - i - 2);
    std::size_t name_end = 0;
    while (name_end < inner.size() && is_name_char(inner[name_end])) ++name_end;
    const std::string name(inner.substr(0, name_end));
    const std::string_view rest = inner.substr(name_end);
    const bool has_default = rest.substr(0, 2) == ":-";
    if (name.empty() || !is_name_start(name.front()) || (!rest.empty() && !has_default)) {
      return fail(ErrorCategory::kInvalidConfiguration,
                  "'${" + std::string(inner) +
                      "}' is not a valid variable reference (write ${NAME} or ${NAME:-default}, "
                      "NAME made of letters, digits and '_')");
    }
    const auto value = lookup(name);
    if (has_default) {
      out += value && !value->empty() ? *value : std::string(rest.substr(2));
    } else if (value) {
      out += *value;
    } else {
      return fail(ErrorCategory::kInvalidConfiguration,
                  "environment variable " + name + " is not set (referenced as ${" + name +
                      "}); export it, or give a default with ${" + name + ":-value}");
    }
    i = close + 1;
  }
  return out;
}

}  // namespace mlbridge::config
