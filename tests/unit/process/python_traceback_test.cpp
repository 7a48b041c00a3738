// find_python_traceback: the uncaught exception at the end of a child interpreter's stderr.

#include "mlbridge/process/python_traceback.hpp"

#include <gtest/gtest.h>

namespace mlbridge::process {
namespace {

TEST(PythonTraceback, FindsAnImportErrorAfterOtherOutput) {
  const auto found = find_python_traceback(
      "some warning the script printed first\n"
      "Traceback (most recent call last):\n"
      "  File \"/srv/bridge.py\", line 3, in <module>\n"
      "    import foo\n"
      "ModuleNotFoundError: No module named 'foo'\n");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->exception, "ModuleNotFoundError: No module named 'foo'");
  EXPECT_EQ(found->type, "ModuleNotFoundError");
  EXPECT_EQ(found->text,
            "Traceback (most recent call last):\n"
            "  File \"/srv/bridge.py\", line 3, in <module>\n"
            "    import foo\n"
            "ModuleNotFoundError: No module named 'foo'\n")
      << "the output before the traceback is not part of it";
}

TEST(PythonTraceback, NamesTheLastExceptionOfAChainAndKeepsTheWholeChain) {
  const std::string text =
      "Traceback (most recent call last):\n"
      "  File \"a.py\", line 1, in <module>\n"
      "KeyError: 'x'\n"
      "\n"
      "During handling of the above exception, another exception occurred:\n"
      "\n"
      "Traceback (most recent call last):\n"
      "  File \"a.py\", line 3, in <module>\n"
      "mypkg.errors.SetupError: could not set up\n";
  const auto found = find_python_traceback(text);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->exception, "mypkg.errors.SetupError: could not set up");
  EXPECT_EQ(found->type, "SetupError");
  EXPECT_EQ(found->text, text);
}

TEST(PythonTraceback, FindsASyntaxErrorOfTheScriptItself) {
  // Python prints a SyntaxError in the script it runs without the "Traceback" line.
  const auto found = find_python_traceback(
      "  File \"/srv/bridge.py\", line 2\n"
      "    def (\n"
      "        ^\n"
      "SyntaxError: invalid syntax\n");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->type, "SyntaxError");
  EXPECT_EQ(found->exception, "SyntaxError: invalid syntax");
}

TEST(PythonTraceback, FindsNothingWithoutATraceback) {
  EXPECT_FALSE(find_python_traceback(""));
  EXPECT_FALSE(find_python_traceback("boom: failing on purpose\n"));
  EXPECT_FALSE(find_python_traceback("Fatal Python error: Segmentation fault\n"));
  // Cut short before the exception line: no exception to name.
  EXPECT_FALSE(find_python_traceback("Traceback (most recent call last):\n  File \"a.py\"\n"));
}

}  // namespace
}  // namespace mlbridge::process
