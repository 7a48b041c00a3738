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

TEST(RedactorTest, LongestSecretIsTheLengthOfTheLongestValue) {
  EXPECT_EQ(Redactor().longest_secret(), 0u);
  const Redactor redactor =
      Redactor::for_environment({{"A_TOKEN", "secret-1234"}, {"B_TOKEN", "secret-1234-longer"}});
  EXPECT_EQ(redactor.longest_secret(), std::string("secret-1234-longer").size());
}

TEST(RedactorTest, SafeCutNeverSplitsASecretItCanSee) {
  const Redactor redactor = Redactor::for_environment({{"OPENAI_API_KEY", "sk-FAKEHOSTKEY-1234"}});
  const std::string text = "abc sk-FAKEHOSTKEY-1234 def";
  // Outside the secret the cut stays where it was asked for.
  EXPECT_EQ(redactor.safe_cut(text, 2), 2u);
  EXPECT_EQ(redactor.safe_cut(text, 4), 4u);
  EXPECT_EQ(redactor.safe_cut(text, 23), 23u);
  // Inside it, the cut moves to its end, so that both parts redact as the whole would.
  for (std::size_t at = 5; at < 23; ++at) {
    const std::size_t cut = redactor.safe_cut(text, at);
    EXPECT_EQ(cut, 23u) << at;
    EXPECT_EQ(redactor.redact(text.substr(0, cut)) + redactor.redact(text.substr(cut)),
              redactor.redact(text));
  }
  EXPECT_EQ(redactor.safe_cut(text, 1000), text.size());
}

TEST(RedactorTest, SafeCutFollowsOverlappingSecrets) {
  const Redactor redactor =
      Redactor::for_environment({{"A_TOKEN", "aaaa-bbbb"}, {"B_TOKEN", "bbbb-cccc"}});
  // "aaaa-bbbb" spans 6; its end (9) is inside "bbbb-cccc" (5..14), whose end is the cut.
  EXPECT_EQ(redactor.safe_cut("xaaaa-bbbb-cccc!", 6), 15u);
}

}  // namespace
}  // namespace mlbridge::telemetry
