// CallMetrics counts each call under a bounded set of command labels: the commands the bridge's
// workers declared keep their names, everything else is "_unknown" (issue 20, item 5).

#include "mlbridge/telemetry/call_metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlbridge::telemetry {
namespace {

Event worker_started(std::vector<std::string> commands) {
  return {.kind = EventKind::kWorkerStarted,
          .bridge = "echo",
          .worker_id = "echo-1",
          .framework = "echo",
          .commands = std::move(commands)};
}

Event finished(std::string command, std::optional<ErrorCategory> error = std::nullopt) {
  return {.kind = EventKind::kCallFinished,
          .bridge = "echo",
          .command = std::move(command),
          .error = error,
          .queue_wait = std::chrono::microseconds(10),
          .execution = std::chrono::microseconds(100)};
}

TEST(CallMetrics, CommandsTheBridgeDoesNotDeclareShareOneLabel) {
  CallMetrics metrics;
  metrics.record(worker_started({"echo", "ping"}));
  for (int i = 0; i < 2000; ++i) {
    metrics.record(finished("made_up_" + std::to_string(i), ErrorCategory::kNotFound));
  }
  metrics.record(finished("echo"));
  const auto snapshot = metrics.snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot.at("echo").ok, 1u);
  const auto& unknown = snapshot.at(std::string(CommandLabels::kUnknown));
  EXPECT_EQ(unknown.failed.at(ErrorCategory::kNotFound), 2000u);
  EXPECT_EQ(unknown.total.count(), 2000u);
}

TEST(CallMetrics, NamespacedFormsOfDeclaredCommandsKeepTheirNames) {
  CallMetrics metrics;
  metrics.record(worker_started({"echo", "ping"}));
  metrics.record(finished("echo:echo"));
  metrics.record(finished("common:ping"));
  metrics.record(finished("other:echo", ErrorCategory::kNotFound));
  metrics.record(finished("echo:", ErrorCategory::kNotFound));
  const auto snapshot = metrics.snapshot();
  EXPECT_EQ(snapshot.at("echo:echo").ok, 1u);
  EXPECT_EQ(snapshot.at("common:ping").ok, 1u);
  EXPECT_EQ(snapshot.at("_unknown").failed.at(ErrorCategory::kNotFound), 2u);
  EXPECT_EQ(snapshot.size(), 3u);
}

TEST(CallMetrics, BeforeAnyWorkerDeclaredOnlyAFewNamesKeepTheirOwn) {
  CallMetrics metrics;
  for (int i = 0; i < 100; ++i) {
    metrics.record(finished("queued_" + std::to_string(i), ErrorCategory::kTimeout));
  }
  auto snapshot = metrics.snapshot();
  EXPECT_EQ(snapshot.size(), CommandLabels::kMaxUndeclared + 1);
  EXPECT_EQ(snapshot.at("queued_0").failed.at(ErrorCategory::kTimeout), 1u);
  EXPECT_EQ(snapshot.at("_unknown").failed.at(ErrorCategory::kTimeout),
            100u - CommandLabels::kMaxUndeclared);

  // Once a worker declared the commands, a name labelled earlier keeps counting under its own.
  metrics.record(worker_started({"echo"}));
  metrics.record(finished("queued_0", ErrorCategory::kTimeout));
  metrics.record(finished("queued_99", ErrorCategory::kTimeout));
  snapshot = metrics.snapshot();
  EXPECT_EQ(snapshot.at("queued_0").failed.at(ErrorCategory::kTimeout), 2u);
  EXPECT_EQ(snapshot.size(), CommandLabels::kMaxUndeclared + 1);
}

TEST(CallMetrics, ACallThatNeverReachedAWorkerHasNoExecutionTime) {
  CallMetrics metrics;
  metrics.record(worker_started({"echo"}));
  Event queued = finished("echo", ErrorCategory::kTimeout);
  queued.execution = std::chrono::nanoseconds(0);
  metrics.record(queued);
  const auto snapshot = metrics.snapshot();
  const auto& echo = snapshot.at("echo");
  EXPECT_EQ(echo.execution.count(), 0u);
  EXPECT_EQ(echo.queue_wait.count(), 1u);
  EXPECT_EQ(echo.total.count(), 1u);
}

}  // namespace
}  // namespace mlbridge::telemetry
