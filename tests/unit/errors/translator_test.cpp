#include "mlbridge/errors/translator.hpp"

#include <gtest/gtest.h>

namespace mlbridge::errors {
namespace {

Error python_error(std::string type, std::string message,
                   ErrorCategory hint = ErrorCategory::kInternal) {
  Error e = Error::make(hint, std::move(message));
  e.python_type = std::move(type);
  e.traceback = "Traceback (most recent call last): ...";
  return e;
}

TEST(ErrorTranslator, MapsPythonBuiltinsByDefault) {
  ErrorTranslator translator({}, {});
  EXPECT_EQ(translator.translate(python_error("ValueError", "x")).category,
            ErrorCategory::kInvalidArgument);
  EXPECT_EQ(translator.translate(python_error("TypeError", "x")).category,
            ErrorCategory::kInvalidArgument);
  EXPECT_EQ(translator.translate(python_error("KeyError", "x")).category, ErrorCategory::kNotFound);
  EXPECT_EQ(translator.translate(python_error("FileNotFoundError", "x")).category,
            ErrorCategory::kNotFound);
  EXPECT_EQ(translator.translate(python_error("TimeoutError", "x")).category,
            ErrorCategory::kTimeout);
  EXPECT_EQ(translator.translate(python_error("MemoryError", "x")).category,
            ErrorCategory::kResourceExhausted);
  EXPECT_EQ(translator.translate(python_error("SomethingElse", "x")).category,
            ErrorCategory::kInternal);
}

TEST(ErrorTranslator, KeepsTypeMessageAndTraceback) {
  ErrorTranslator translator({}, {});
  const Error out = translator.translate(python_error("ValueError", "bad value"));
  EXPECT_EQ(out.python_type, "ValueError");
  EXPECT_EQ(out.message, "bad value");
  EXPECT_EQ(out.traceback, "Traceback (most recent call last): ...");
}

TEST(ErrorTranslator, AdapterRulesMatchQualifiedTypesAndMessages) {
  ErrorTranslator translator(
      {}, {{"RateLimitError", "", ErrorCategory::kRateLimit, std::nullopt},
           {"BadRequestError", "context.?length", ErrorCategory::kInvalidArgument, std::nullopt},
           {"APIConnectionError", "", ErrorCategory::kModelError, true}});
  const Error limited = translator.translate(python_error("litellm.RateLimitError", "slow down"));
  EXPECT_EQ(limited.category, ErrorCategory::kRateLimit);
  EXPECT_TRUE(limited.retryable);
  EXPECT_EQ(translator.translate(python_error("openai.BadRequestError", "context length exceeded"))
                .category,
            ErrorCategory::kInvalidArgument);
  EXPECT_EQ(translator.translate(python_error("openai.BadRequestError", "other")).category,
            ErrorCategory::kInternal);
  const Error connection = translator.translate(python_error("openai.APIConnectionError", "down"));
  EXPECT_EQ(connection.category, ErrorCategory::kModelError);
  EXPECT_TRUE(connection.retryable);
}

TEST(ErrorTranslator, YamlOverridesComeBeforeAdapterRules) {
  ErrorTranslator translator({{"RateLimitError", "", ErrorCategory::kOverloaded, false}},
                             {{"RateLimitError", "", ErrorCategory::kRateLimit, std::nullopt}});
  const Error out = translator.translate(python_error("litellm.RateLimitError", "x"));
  EXPECT_EQ(out.category, ErrorCategory::kOverloaded);
  EXPECT_FALSE(out.retryable);
}

TEST(ErrorTranslator, AWorkersExplicitCategoryBeatsBuiltinDefaultsOnly) {
  ErrorTranslator none({}, {});
  EXPECT_EQ(none.translate(python_error("ValueError", "x", ErrorCategory::kNotFound)).category,
            ErrorCategory::kNotFound);
  ErrorTranslator configured({{"ValueError", "", ErrorCategory::kModelError, std::nullopt}}, {});
  EXPECT_EQ(
      configured.translate(python_error("ValueError", "x", ErrorCategory::kNotFound)).category,
      ErrorCategory::kModelError);
}

TEST(ErrorTranslator, LeavesHostErrorsAlone) {
  ErrorTranslator translator({{"", "", ErrorCategory::kModelError, std::nullopt}}, {});
  Error host = Error::make(ErrorCategory::kWorkerCrashed, "worker died");
  EXPECT_EQ(translator.translate(host).category, ErrorCategory::kWorkerCrashed);
}

}  // namespace
}  // namespace mlbridge::errors
