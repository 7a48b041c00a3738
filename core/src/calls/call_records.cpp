#include "mlbridge/calls/call_records.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace mlbridge::calls {

using json = protocol::json;

std::string_view to_string(CallState state) {
  switch (state) {
    case CallState::kQueued:
      return "queued";
    case CallState::kRunning:
      return "running";
    case CallState::kSucceeded:
      return "succeeded";
    case CallState::kFailed:
      return "failed";
    case CallState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace {

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const auto since = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds);
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), text,
                static_cast<int>(millis.count()));
  return out;
}

}  // namespace

json to_json(const CallRecord& record) {
  json out = {{"id", record.id},
              {"state", std::string(to_string(record.state))},
              {"bridge", record.bridge},
              {"command", record.command},
              {"started", rfc3339(record.started)}};
  if (record.finished) out["finished"] = rfc3339(*record.finished);
  if (record.state == CallState::kSucceeded) out["result"] = record.result;
  if (record.error) {
    out["error"] = {{"category", std::string(to_string(record.error->category))},
                    {"message", record.error->message}};
  }
  return out;
}

CallRecords::CallRecords(RetentionLimits limits, std::function<Clock::time_point()> now)
    : limits_(limits), now_(std::move(now)) {}

void CallRecords::started(const std::string& id, const std::string& bridge,
                          const std::string& command) {
  std::lock_guard lock(mutex_);
  prune(now_());
  make_room();
  Entry entry;
  entry.record.id = id;
  entry.record.bridge = bridge;
  entry.record.command = command;
  entry.record.started = std::chrono::system_clock::now();
  entries_[id] = std::move(entry);
}

void CallRecords::running(const std::string& id) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.record.finished) return;
  it->second.record.state = CallState::kRunning;
}

void CallRecords::finished(const std::string& id, Result<json> result) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  const auto it = entries_.find(id);
  if (it != entries_.end() && !it->second.record.finished) {
    auto& record = it->second.record;
    record.finished = std::chrono::system_clock::now();
    if (result) {
      record.state = CallState::kSucceeded;
      record.result = std::move(*result);
    } else {
      record.error = std::move(result).error();
      record.state = record.error->category == ErrorCategory::kCancelled ? CallState::kCancelled
                                                                         : CallState::kFailed;
    }
    it->second.finished_at = now;
    finished_order_.push_back(id);
  }
  prune(now);
}

Result<CallRecord> CallRecords::get(const std::string& id) {
  std::lock_guard lock(mutex_);
  prune(now_());
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    return fail(ErrorCategory::kNotFound,
                "no record of call '" + id +
                    "': unknown, or finished more than host.call_results.ttl_ms (" +
                    std::to_string(limits_.ttl.count()) +
                    " ms) ago, or among the oldest past host.call_results.max (" +
                    std::to_string(limits_.max) +
                    " records); results are kept only for calls sent with \"reply\": false "
                    "(cast)");
  }
  return it->second.record;
}

std::size_t CallRecords::size() {
  std::lock_guard lock(mutex_);
  prune(now_());
  return entries_.size();
}

void CallRecords::prune(Clock::time_point now) {
  while (!finished_order_.empty()) {
    const auto it = entries_.find(finished_order_.front());
    if (it != entries_.end() && now - it->second.finished_at < limits_.ttl) break;
    if (it != entries_.end()) entries_.erase(it);
    finished_order_.pop_front();
  }
}

void CallRecords::make_room() {
  while (entries_.size() >= limits_.max && !finished_order_.empty()) {
    entries_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
  if (entries_.size() < limits_.max || entries_.empty()) return;
  // Every record is in flight: forget the oldest.
  const auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
    return a.second.record.started < b.second.record.started;
  });
  entries_.erase(oldest);
}

}  // namespace mlbridge::calls
