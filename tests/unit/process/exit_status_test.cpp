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

TEST(ExitStatus, ASignalTheHostSentIsNotBlamedOnTheOutOfMemoryKiller) {
  ExitStatus killed{-1, SIGKILL};
  killed.sent_by_host = true;
  EXPECT_EQ(killed.describe(), "was killed by signal 9 (SIGKILL, sent by the host)");
  ExitStatus terminated{-1, SIGTERM};
  terminated.sent_by_host = true;
  EXPECT_EQ(terminated.describe(), "was killed by signal 15 (SIGTERM, sent by the host)");
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
