#include "error_rules.hpp"

#include <initializer_list>
#include <mlbridge/sdk/plugin.hpp>
#include <optional>

namespace mlbridge::langchain_plugin {
namespace {

void add(json& rules, std::initializer_list<const char*> types, const char* category,
         std::optional<bool> retryable = std::nullopt) {
  for (const char* type : types) rules.push_back(sdk::error_rule(type, category, {}, retryable));
}

}  // namespace

json langchain_error_rules() {
  json rules = json::array();
  // The provider said no to this many calls; a later call may pass.
  add(rules, {"openai.RateLimitError", "langchain_core.ModelRateLimitError"}, "rate_limit", true);
  // A wrong or missing key, or a key without access: retrying cannot help.
  add(rules,
      {"openai.AuthenticationError", "openai.PermissionDeniedError",
       "langchain_core.ModelAuthenticationError", "langchain_core.ModelPermissionDeniedError"},
      "authentication", false);
  // The request itself is wrong: refused as malformed, too long for the model's context, or
  // for a model the endpoint does not have.
  add(rules,
      {"openai.BadRequestError", "openai.NotFoundError", "openai.UnprocessableEntityError",
       "openai.ConflictError", "langchain_core.ContextOverflowError",
       "langchain_core.ModelInvalidRequestError", "langchain_core.ModelNotFoundError"},
      "invalid_argument", false);
  // The provider could not be reached, did not answer in time or failed: worth another try.
  add(rules,
      {"openai.APITimeoutError", "openai.APIConnectionError", "openai.InternalServerError",
       "langchain_core.ModelTimeoutError", "langchain_core.ModelConnectionError"},
      "model_error", true);
  // The model answered, but not in the format the chain's parser wants; or an agent kept
  // calling tools past its step limit. The same request would most likely do the same again.
  add(rules, {"langchain_core.OutputParserException", "langgraph.GraphRecursionError"},
      "model_error", false);
  // Any other provider failure (an unexpected status, a malformed response).
  add(rules,
      {"openai.APIStatusError", "openai.APIResponseValidationError", "openai.APIError",
       "langchain_core.ModelAPIError", "langchain_core.ModelError"},
      "model_error");
  // A prompt variable the input did not give (LangChain's KeyError, "missing variables").
  rules.push_back(sdk::error_rule("KeyError", "invalid_argument", "missing variables", false));
  return rules;
}

}  // namespace mlbridge::langchain_plugin
