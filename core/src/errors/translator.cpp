#include "mlbridge/errors/translator.hpp"

namespace mlbridge::errors {
namespace {

std::string_view last_part(std::string_view type) {
  const auto dot = type.rfind('.');
  return dot == std::string_view::npos ? type : type.substr(dot + 1);
}

plugin::ErrorRule rule(std::string type, ErrorCategory category,
                       std::optional<bool> retryable = std::nullopt) {
  return plugin::ErrorRule{std::move(type), "", category, retryable};
}

}  // namespace

const std::vector<plugin::ErrorRule>& ErrorTranslator::builtin_rules() {
  static const std::vector<plugin::ErrorRule> rules = {
      rule("ValueError", ErrorCategory::kInvalidArgument),
      rule("TypeError", ErrorCategory::kInvalidArgument),
      rule("AssertionError", ErrorCategory::kInvalidArgument),
      rule("UnicodeError", ErrorCategory::kInvalidArgument),
      rule("KeyError", ErrorCategory::kNotFound),
      rule("IndexError", ErrorCategory::kNotFound),
      rule("LookupError", ErrorCategory::kNotFound),
      rule("FileNotFoundError", ErrorCategory::kNotFound),
      rule("ModuleNotFoundError", ErrorCategory::kInvalidConfiguration),
      rule("ImportError", ErrorCategory::kInvalidConfiguration),
      rule("PermissionError", ErrorCategory::kInvalidConfiguration),
      rule("NotImplementedError", ErrorCategory::kInvalidArgument),
      rule("TimeoutError", ErrorCategory::kTimeout),
      rule("MemoryError", ErrorCategory::kResourceExhausted),
      rule("RecursionError", ErrorCategory::kResourceExhausted),
      rule("ConnectionError", ErrorCategory::kModelError, true),
      rule("Cancelled", ErrorCategory::kCancelled),
  };
  return rules;
}

std::vector<ErrorTranslator::CompiledRule> ErrorTranslator::compile(
    std::vector<plugin::ErrorRule> rules) {
  std::vector<CompiledRule> compiled;
  for (auto& r : rules) {
    CompiledRule c{std::move(r), std::nullopt};
    if (!c.rule.message_pattern.empty())
      c.pattern.emplace(c.rule.message_pattern, std::regex::ECMAScript);
    compiled.push_back(std::move(c));
  }
  return compiled;
}

ErrorTranslator::ErrorTranslator(std::vector<plugin::ErrorRule> overrides,
                                 std::vector<plugin::ErrorRule> adapter_rules) {
  overrides.insert(overrides.end(), std::make_move_iterator(adapter_rules.begin()),
                   std::make_move_iterator(adapter_rules.end()));
  configured_ = compile(std::move(overrides));
  builtin_ = compile(builtin_rules());
}

bool ErrorTranslator::matches(const plugin::ErrorRule& r, const std::string& type,
                              const std::string& message) {
  if (!r.type.empty() && r.type != type && r.type != last_part(type)) return false;
  if (r.message_pattern.empty()) return true;
  return std::regex_search(message, std::regex(r.message_pattern, std::regex::ECMAScript));
}

const ErrorTranslator::CompiledRule* ErrorTranslator::first_match(
    const std::vector<CompiledRule>& rules, const Error& error) {
  for (const auto& c : rules) {
    if (!c.rule.type.empty() && c.rule.type != error.python_type &&
        c.rule.type != last_part(error.python_type)) {
      continue;
    }
    if (c.pattern && !std::regex_search(error.message, *c.pattern)) continue;
    return &c;
  }
  return nullptr;
}

Error ErrorTranslator::translate(Error error) const {
  if (error.python_type.empty()) return error;
  const CompiledRule* match = first_match(configured_, error);
  // A worker's explicit category (BridgeError) beats the builtin defaults, not the configuration.
  if (!match && error.category == ErrorCategory::kInternal) match = first_match(builtin_, error);
  if (!match) return error;
  error.category = match->rule.category;
  error.retryable = match->rule.retryable.value_or(is_retryable_by_default(match->rule.category));
  return error;
}

}  // namespace mlbridge::errors
