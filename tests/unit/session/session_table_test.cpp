// SessionTable (mlbridge/session/session_table.hpp): the count of sessions bound to each worker
// is kept as sessions are bound, lost, released, re-created and removed, and always equals a
// recount of the table.

#include "mlbridge/session/session_table.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace mlbridge::session {
namespace {

std::map<std::uint64_t, std::size_t> recount(const SessionTable& table) {
  std::map<std::uint64_t, std::size_t> counts;
  for (const auto& [id, session] : table.all()) {
    if (session.worker && !session.lost) ++counts[*session.worker];
  }
  return counts;
}

TEST(SessionTableTest, CountsSessionsBoundToEachWorker) {
  SessionTable table(100);
  const auto now = Clock::now();
  Session* a = *table.create("a", now);
  Session* b = *table.create("b", now);
  Session* c = *table.create("c", now);
  table.bind(*a, 1);
  table.bind(*b, 1);
  table.bind(*c, 2);
  table.bind(*c, 1);  // already bound: stays on 2
  EXPECT_EQ(table.bound_to(1), 2u);
  EXPECT_EQ(table.bound_to(2), 1u);
  EXPECT_EQ(table.bound_to(3), 0u);
  table.mark_lost(*b, "its journal was truncated");
  EXPECT_EQ(table.bound_to(1), 1u);
  auto released = table.release_worker(2, "w-2", "worker 2 exited", true);
  EXPECT_EQ(released.moved, std::vector<std::string>{"c"});
  EXPECT_EQ(table.bound_to(2), 0u);
  EXPECT_EQ(table.bound_counts(), (std::map<std::uint64_t, std::size_t>{{1, 1}}));
  table.remove("a");
  EXPECT_TRUE(table.bound_counts().empty());
  EXPECT_EQ(table.bound_counts(), recount(table));
}

TEST(SessionTableTest, TheKeptCountsMatchARecountAfterAnySequence) {
  SessionTable table(1000);
  std::mt19937 rng(7);
  const auto now = Clock::now();
  for (int step = 0; step < 20000; ++step) {
    const std::string id = "s" + std::to_string(rng() % 50);
    const std::uint64_t worker = rng() % 4;
    Session* session = table.find(id);
    switch (rng() % 6) {
      case 0:
        if (!session || session->lost) (void)table.create(id, now);  // a lost one is reset
        break;
      case 1:
      case 2:
        if (session) table.bind(*session, worker);
        break;
      case 3:
        if (session && rng() % 4 == 0) table.mark_lost(*session, "lost on purpose");
        break;
      case 4:
        if (rng() % 8 == 0) table.release_worker(worker, "w", "gone", rng() % 2 == 0);
        break;
      case 5:
        if (rng() % 4 == 0) table.remove(id);
        break;
    }
    ASSERT_EQ(table.bound_counts(), recount(table)) << "after step " << step;
  }
}

}  // namespace
}  // namespace mlbridge::session
