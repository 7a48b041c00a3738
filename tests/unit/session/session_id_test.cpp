#include "mlbridge/session/session_id.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlbridge::session {
namespace {

TEST(SessionIdTest, AcceptsTheDocumentedCharactersUpTo128) {
  for (const std::string& id :
       std::vector<std::string>{"a", "user-7", "s-0123456789abcdef", "tenant:42.chat_1", "A.Z:0-9_",
                                std::string(kMaxSessionIdLength, 'x')}) {
    EXPECT_TRUE(is_valid_session_id(id)) << id;
    EXPECT_TRUE(check_session_id(id).ok()) << id;
  }
}

TEST(SessionIdTest, RefusesAnythingElseSayingWhatIsWrong) {
  struct Case {
    std::string id;
    std::string says;
  };
  for (const auto& [id, says] : std::vector<Case>{
           {"", "empty session id"},
           {"a/b", "'/' at position 1"},
           {std::string("a\0b", 3), "'\\x00' at position 1"},
           {"a b", "' ' at position 1"},
           {"x\n", "'\\x0a' at position 1"},
           {"caf\xc3\xa9", "'\\xc3' at position 3"},
           {std::string(kMaxSessionIdLength + 1, 'x'), "129 characters long"},
           {std::string(4 * 1024 * 1024, 'x'), "4194304 characters long"},
       }) {
    EXPECT_FALSE(is_valid_session_id(id));
    auto checked = check_session_id(id);
    ASSERT_FALSE(checked.ok());
    EXPECT_EQ(checked.error().category, ErrorCategory::kInvalidArgument);
    const std::string& message = checked.error().message;
    EXPECT_NE(message.find(says), std::string::npos) << message;
    EXPECT_NE(message.find("A-Z a-z 0-9 . _ : -"), std::string::npos) << message;
    EXPECT_LT(message.size(), 300u) << "never the whole id";
  }
}

}  // namespace
}  // namespace mlbridge::session
