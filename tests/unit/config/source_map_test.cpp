#include "mlbridge/config/source_map.hpp"

#include <gtest/gtest.h>

namespace mlbridge::config {
namespace {

SourceMap sample() {
  SourceMap map;
  map.file = "config/x.yaml";
  map.positions["/bridges"] = {2, 3};
  map.positions["/bridges/dspy"] = {3, 5};
  map.positions["/bridges/dspy/pool/size"] = {12, 7};
  map.key_positions["/bridges/dspy/pool/size"] = {12, 1};
  return map;
}

TEST(SourceMap, NamesFileLineAndColumnOfAKnownPointer) {
  EXPECT_EQ(sample().where("/bridges/dspy/pool/size"), "config/x.yaml:12:7");
}

TEST(SourceMap, FallsBackToTheNearestKnownParent) {
  EXPECT_EQ(sample().where("/bridges/dspy/script"), "config/x.yaml:3:5");
  EXPECT_EQ(sample().where("/bridges/dspy/timeouts/request_ms"), "config/x.yaml:3:5");
}

TEST(SourceMap, FallsBackToTheFileNameAndToNothing) {
  EXPECT_EQ(sample().where("/host/listen"), "config/x.yaml");
  EXPECT_EQ(sample().where(""), "config/x.yaml");
  SourceMap empty;
  EXPECT_EQ(empty.where("/host"), "");
}

TEST(SourceMap, WithoutAFileGivesLineAndColumn) {
  SourceMap map;
  map.positions["/a"] = {4, 2};
  EXPECT_EQ(map.where("/a/b"), "4:2");
}

TEST(SourceMap, KeyPositionsFallBackToValuePositions) {
  EXPECT_EQ(sample().where_key("/bridges/dspy/pool/size"), "config/x.yaml:12:1");
  EXPECT_EQ(sample().where_key("/bridges/dspy"), "config/x.yaml:3:5");
}

TEST(SourceMap, AppendPointerEscapesAsRfc6901Says) {
  EXPECT_EQ(append_pointer("", "bridges"), "/bridges");
  EXPECT_EQ(append_pointer("/env/set", "a/b~c"), "/env/set/a~1b~0c");
}

}  // namespace
}  // namespace mlbridge::config
