// The Redis client's own cost against a local redis-server (tests/support/redis_server.hpp):
// one command at a time (round trip; a write waits for the append-only file's fsync, as the
// test server runs with appendfsync always), many in flight (pipelined throughput), and a
// compare-and-set script of the session store's shape (HGET version, compare, HSET).
//
//   build/ci/bin/redis_client_bench --benchmark_min_time=1

#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "mlbridge/store/redis_client.hpp"
#include "redis_server.hpp"

namespace {

using mlbridge::Result;
using mlbridge::store::RedisClient;
using mlbridge::store::RedisReply;

struct RedisBenchSetup {
  mlbridge::testing::RedisServer server;
  std::shared_ptr<RedisClient> client;
  RedisBenchSetup() {
    client = RedisClient::create(*mlbridge::store::parse_redis_url(server.url()));
    client->start();
  }
};

RedisBenchSetup& setup() {
  static RedisBenchSetup instance;
  return instance;
}

// Waits for `count` answers; counts failures.
class Countdown {
 public:
  explicit Countdown(int count) : left_(count) {}
  RedisClient::Callback callback() {
    return [this](Result<RedisReply> reply) {
      std::lock_guard lock(mutex_);
      if (!reply.ok() || reply->type == RedisReply::Type::kError) ++failed_;
      if (--left_ == 0) done_.notify_all();
    };
  }
  int wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return left_ == 0; });
    return failed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  int left_;
  int failed_ = 0;
};

void BM_RedisRoundTrip(benchmark::State& state) {
  auto& client = *setup().client;
  for (auto _ : state) {
    Countdown one(1);
    client.command({"SET", "bench:key", "value"}, one.callback());
    if (one.wait() != 0) state.SkipWithError("a command failed");
  }
}
BENCHMARK(BM_RedisRoundTrip)->UseRealTime();

// A read: no append-only-file fsync in Redis, so this is the client's and the network's cost.
void BM_RedisRoundTripRead(benchmark::State& state) {
  auto& client = *setup().client;
  for (auto _ : state) {
    Countdown one(1);
    client.command({"GET", "bench:key"}, one.callback());
    if (one.wait() != 0) state.SkipWithError("a command failed");
  }
}
BENCHMARK(BM_RedisRoundTripRead)->UseRealTime();

void BM_RedisPipelined(benchmark::State& state) {
  auto& client = *setup().client;
  const int in_flight = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Countdown all(in_flight);
    for (int i = 0; i < in_flight; ++i) client.command({"INCR", "bench:counter"}, all.callback());
    if (all.wait() != 0) state.SkipWithError("a command failed");
  }
  state.SetItemsProcessed(state.iterations() * in_flight);
}
BENCHMARK(BM_RedisPipelined)->Arg(100)->Arg(1000)->UseRealTime();

// The session store's write: the state (1 KiB) replaces the old one only if the version matches.
void BM_RedisCompareAndSetScript(benchmark::State& state) {
  auto& client = *setup().client;
  const auto script = client.script(R"lua(
    local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
    if version ~= tonumber(ARGV[1]) then return redis.error_reply('VERSION ' .. version) end
    redis.call('HSET', KEYS[1], 'version', version + 1, 'state', ARGV[2])
    return version + 1)lua");
  const std::string state_json(1024, 'x');
  long long version = 0;
  {
    Countdown reset(1);
    client.command({"DEL", "mlbridge:{bench}:data"}, reset.callback());
    reset.wait();
  }
  for (auto _ : state) {
    Countdown one(1);
    script.run({"mlbridge:{bench}:data"}, {std::to_string(version), state_json}, one.callback());
    if (one.wait() != 0) state.SkipWithError("the compare-and-set failed");
    ++version;
  }
}
BENCHMARK(BM_RedisCompareAndSetScript)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (mlbridge::testing::RedisServer::binary().empty()) {
    std::fprintf(stderr, "redis-server not found: install the Debian package redis-server\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  setup().client->stop();
  return 0;
}
