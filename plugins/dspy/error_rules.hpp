#pragma once

/// @file
/// How errors of the DSPy bridge map to mlbridge categories. The types are the ones that reach
/// the host: dspy_support/errors.py reports an LM failure under the first LiteLLM (or OpenAI,
/// httpx) exception of DSPy's chain, qualified by its top-level package
/// ("litellm.RateLimitError"); an LM error without one (DSPy's native engine) keeps DSPy's public
/// type ("dspy.LMRateLimitError"); a reply that does not parse into the output fields is
/// "dspy.AdapterParseError"; the bridge's own refusals are "mlbridge.BridgeError".
///
/// Rules name qualified types, so that an unrelated exception that happens to be called
/// "Timeout" is never taken for LiteLLM's. LiteLLM matches by exact class: a subclass such as
/// ContextWindowExceededError (of BadRequestError) needs its own rule.

#include <nlohmann/json.hpp>

namespace mlbridge::dspy_plugin {

using json = nlohmann::json;

/// The rules as the SDK's error_rule() objects, first match first.
json dspy_error_rules();

}  // namespace mlbridge::dspy_plugin
