#include "mlbridge/process/exit_status.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace mlbridge::process {
namespace {

TEST(ExitStatus, NamesCommonSignals) {
  EXPECT_NE((ExitStatus{-1, SIGSEGV}).describe().find("segmentation fault"), std::string::npos);
  EXPECT_NE((ExitStatus{-1, SIGKILL}).describe().find("out-of-memory"), std::string::npos);
  EXPECT_NE((ExitStatus{-1, SIGABRT}).describe().find("aborted"), std::string::npos);
  EXPECT_EQ((ExitStatus{-1, SIGKILL}).shell_code(), 137);
}

TEST(ExitStatus, ExplainsShellStyleCodes) {
  EXPECT_NE((ExitStatus{139, 0}).describe().find("segmentation fault"), std::string::npos);
  EXPECT_NE((ExitStatus{134, 0}).describe().find("aborted"), std::string::npos);
  EXPECT_NE((ExitStatus{137, 0}).describe().find("out of memory"), std::string::npos);
  EXPECT_EQ((ExitStatus{7, 0}).describe(), "exited with code 7");
  EXPECT_TRUE((ExitStatus{0, 0}).exited_cleanly());
}

}  // namespace
}  // namespace mlbridge::process
