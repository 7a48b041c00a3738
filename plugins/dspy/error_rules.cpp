#include "error_rules.hpp"

#include <initializer_list>
#include <mlbridge/sdk/plugin.hpp>
#include <optional>
#include <string>

namespace mlbridge::dspy_plugin {
namespace {

void add(json& rules, std::initializer_list<const char*> types, const char* category,
         std::optional<bool> retryable = std::nullopt) {
  for (const char* type : types) rules.push_back(sdk::error_rule(type, category, {}, retryable));
}

}  // namespace

json dspy_error_rules() {
  json rules = json::array();
  // The provider said no to this many calls; a later call may pass.
  add(rules, {"litellm.RateLimitError", "openai.RateLimitError", "dspy.LMRateLimitError"},
      "rate_limit", true);
  // A wrong or missing key: retrying cannot help.
  add(rules,
      {"litellm.AuthenticationError", "openai.AuthenticationError", "litellm.PermissionDeniedError",
       "openai.PermissionDeniedError", "dspy.LMAuthError"},
      "authentication", false);
  // The request itself is wrong: too long for the model's context, or refused as malformed.
  add(rules,
      {"litellm.ContextWindowExceededError", "dspy.ContextWindowExceededError",
       "litellm.BadRequestError", "openai.BadRequestError", "litellm.NotFoundError",
       "openai.NotFoundError", "litellm.UnprocessableEntityError",
       "litellm.ContentPolicyViolationError", "litellm.UnsupportedParamsError",
       "litellm.InvalidRequestError", "litellm.RejectedRequestError", "dspy.LMInvalidRequestError",
       "dspy.LMUnsupportedModelError"},
      "invalid_argument", false);
  // The provider could not be reached or did not answer in time: worth another try.
  add(rules,
      {"litellm.Timeout", "openai.APITimeoutError", "httpx.TimeoutException", "httpx.ReadTimeout",
       "httpx.ConnectTimeout", "litellm.APIConnectionError", "openai.APIConnectionError",
       "httpx.ConnectError", "litellm.InternalServerError", "openai.InternalServerError",
       "litellm.ServiceUnavailableError", "litellm.BadGatewayError", "dspy.LMTimeoutError",
       "dspy.LMServerError", "dspy.LMTransportError"},
      "model_error", true);
  // Billing: the account is out of credit or over budget; not fixed by retrying.
  add(rules, {"litellm.BudgetExceededError", "litellm.PaymentRequiredError", "dspy.LMBillingError"},
      "resource_exhausted", false);
  // The LM answered, but not in the format of the signature's output fields.
  add(rules, {"dspy.AdapterParseError"}, "model_error", false);
  add(rules, {"litellm.APIError", "openai.APIError", "dspy.LMProviderError"}, "model_error");
  // The bridge's own refusal for a program that is not in the caller's session.
  rules.push_back(
      sdk::error_rule("mlbridge.BridgeError", "not_found", "^program '[^']*' not found"));
  return rules;
}

}  // namespace mlbridge::dspy_plugin
