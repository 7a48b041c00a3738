#include "mlbridge/telemetry/redactor.hpp"

#include <gtest/gtest.h>

namespace mlbridge::telemetry {
namespace {

TEST(RedactorTest, SecretNamesFollowThePythonSdkRule) {
  for (const char* name : {"OPENAI_API_KEY", "openai_apikey", "KEY", "HF_TOKEN", "DB_PASSWORD",
                           "AWS_SECRET", "X_PASSWD", "API_KEY"}) {
    EXPECT_TRUE(Redactor::is_secret_name(name)) << name;
  }
  for (const char* name : {"PATH", "HOME", "MONKEY", "TOKENIZERS_PARALLELISM", "KEYBOARD", ""}) {
    EXPECT_FALSE(Redactor::is_secret_name(name)) << name;
  }
}

TEST(RedactorTest, BlanksOutEverySecretValueOfTheEnvironment) {
  const Redactor redactor = Redactor::for_environment({{"OPENAI_API_KEY", "sk-planted-0123456789"},
                                                       {"HF_TOKEN", "hf_abcdefgh"},
                                                       {"PATH", "/usr/bin:/bin"},
                                                       {"SHORT_TOKEN", "abc"}});
  EXPECT_EQ(redactor.redact("key sk-planted-0123456789 and hf_abcdefgh twice: hf_abcdefgh"),
            "key [REDACTED] and [REDACTED] twice: [REDACTED]");
  EXPECT_EQ(redactor.redact("PATH=/usr/bin:/bin abc"), "PATH=/usr/bin:/bin abc");
}

TEST(RedactorTest, ALongerSecretContainingAShorterOneIsBlankedWhole) {
  const Redactor redactor =
      Redactor::for_environment({{"A_TOKEN", "secret-1234"}, {"B_TOKEN", "secret-1234-longer"}});
  EXPECT_EQ(redactor.redact("[secret-1234-longer]"), "[[REDACTED]]");
}

TEST(RedactorTest, AnEmptyRedactorChangesNothing) {
  const Redactor redactor;
  EXPECT_TRUE(redactor.empty());
  EXPECT_EQ(redactor.redact("sk-anything"), "sk-anything");
}

}  // namespace
}  // namespace mlbridge::telemetry
