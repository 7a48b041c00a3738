#pragma once

/// @file
/// How errors of the LangChain bridge map to mlbridge categories. The types are the ones that
/// reach the host: langchain_support/errors.py reports a failed model call under the first
/// class of the `openai` package in the exception's MRO, qualified by that package
/// ("openai.RateLimitError", not langchain-openai's subclass); a LangChain-classified provider
/// error without an openai class keeps langchain_core's type
/// ("langchain_core.ModelRateLimitError"); an answer that does not parse is
/// "langchain_core.OutputParserException"; a missing prompt variable is "KeyError" (what
/// LangChain raises) with "missing variables" in the message; an agent out of steps is
/// "langgraph.GraphRecursionError". The bridge's own refusals are "mlbridge.BridgeError" and
/// carry their category (not_found, invalid_argument), which no rule here overrides.
///
/// Rules name qualified types, so that an unrelated exception that happens to be called
/// "RateLimitError" is never taken for OpenAI's; the KeyError rule matches only LangChain's
/// missing-variable message, so that any other KeyError keeps the host's default.

#include <nlohmann/json.hpp>

namespace mlbridge::langchain_plugin {

using json = nlohmann::json;

/// The rules as the SDK's error_rule() objects, first match first.
json langchain_error_rules();

}  // namespace mlbridge::langchain_plugin
