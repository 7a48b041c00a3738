// The Redis client against a real redis-server (tests/support/redis_server.hpp): round trips,
// pipelining from many threads, replies larger than one read, a refused password or database,
// no server, a server killed or hung mid-use, reconnecting by itself, the script cache emptied
// by a restart, and stop() with commands pending.

#include "mlbridge/store/redis_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "log_capture.hpp"
#include "redis_server.hpp"
#include "refusing_port.hpp"

namespace mlbridge::store {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;
using testing::RedisServerOptions;
using Type = RedisReply::Type;

// Bounds every wait of these tests, so that a bug fails a test instead of hanging it.
constexpr auto kPatience = 30s;

RedisEndpoint endpoint_of(const RedisServer& server, int db = 0) {
  auto endpoint = parse_redis_url(server.url(db));
  EXPECT_TRUE(endpoint.ok());
  return *endpoint;
}

std::shared_ptr<RedisClient> started_client(RedisEndpoint endpoint,
                                            RedisClientOptions options = {}) {
  auto client = RedisClient::create(std::move(endpoint), options);
  client->start();
  return client;
}

// A command's answer, waited for (at most kPatience).
class Answer {
 public:
  RedisClient::Callback callback() {
    return [state = state_](Result<RedisReply> reply) {
      std::lock_guard lock(state->mutex);
      ++state->calls;
      state->reply.emplace(std::move(reply));
      state->changed.notify_all();
    };
  }
  Result<RedisReply> get() {
    std::unique_lock lock(state_->mutex);
    if (!state_->changed.wait_for(lock, kPatience, [&] { return state_->reply.has_value(); })) {
      return fail(ErrorCategory::kInternal, "the test waited too long for an answer");
    }
    return *state_->reply;
  }
  int calls() {
    std::lock_guard lock(state_->mutex);
    return state_->calls;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<Result<RedisReply>> reply;
    int calls = 0;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

Result<RedisReply> run(RedisClient& client, std::vector<std::string> argv) {
  Answer answer;
  client.command(std::move(argv), answer.callback());
  return answer.get();
}

Result<RedisReply> run(const RedisScript& script, std::vector<std::string> keys,
                       std::vector<std::string> args = {}) {
  Answer answer;
  script.run(std::move(keys), std::move(args), answer.callback());
  return answer.get();
}

bool wait_until_connected(const RedisClient& client) {
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  while (!client.connected()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string describe(const Result<RedisReply>& reply) {
  return reply.ok() ? "reply '" + reply->text + "'" : reply.error().describe();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

// A port that accepts every connection and closes it at once, as a Redis that crashes on
// each connect would: every reconnect attempt gets that far, and is counted.
class ClosingListener {
 public:
  ClosingListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("listen on 127.0.0.1 failed");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      while (!stopping_) {
        pollfd entry{fd_, POLLIN, 0};
        if (::poll(&entry, 1, 20) != 1) continue;
        const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        ::close(client);
        std::lock_guard lock(mutex_);
        ++accepted_;
        changed_.notify_all();
      }
    });
  }
  ~ClosingListener() {
    stopping_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  // True once `count` connections were accepted (waits at most kPatience).
  bool wait_for_connections(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kPatience, [&] { return accepted_ >= count; });
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  int accepted_ = 0;
  std::thread thread_;
};

TEST(RedisClient, RoundTripsStringsHashesIntegersArraysAndScripts) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = started_client(endpoint_of(server));

  auto set = run(*client, {"SET", "greeting", std::string("hi\0there", 8)});
  ASSERT_TRUE(set.ok()) << describe(set);
  EXPECT_EQ(set->type, Type::kStatus);
  EXPECT_EQ(set->text, "OK");
  auto get = run(*client, {"GET", "greeting"});
  ASSERT_TRUE(get.ok()) << describe(get);
  EXPECT_EQ(get->type, Type::kString);
  EXPECT_EQ(get->text, std::string("hi\0there", 8));
  EXPECT_EQ(run(*client, {"GET", "nothing"})->type, Type::kNil);

  auto hset = run(*client, {"HSET", "session", "version", "1", "state", "{}"});
  ASSERT_TRUE(hset.ok()) << describe(hset);
  EXPECT_EQ(hset->type, Type::kInteger);
  EXPECT_EQ(hset->integer, 2);
  auto hgetall = run(*client, {"HGETALL", "session"});
  ASSERT_TRUE(hgetall.ok());
  ASSERT_EQ(hgetall->type, Type::kArray);
  EXPECT_EQ(hgetall->elements.size(), 4u);

  auto eval =
      run(*client, {"EVAL", "return {1, 'two', redis.call('GET', KEYS[1])}", "1", "greeting"});
  ASSERT_TRUE(eval.ok()) << describe(eval);
  ASSERT_EQ(eval->type, Type::kArray);
  ASSERT_EQ(eval->elements.size(), 3u);
  EXPECT_EQ(eval->elements[0].type, Type::kInteger);
  EXPECT_EQ(eval->elements[0].integer, 1);
  EXPECT_EQ(eval->elements[1].text, "two");
  EXPECT_EQ(eval->elements[2].text, std::string("hi\0there", 8));

  // A Redis error reply is an answer, not a failure: the caller decides.
  auto wrong = run(*client, {"INCR", "greeting"});
  ASSERT_TRUE(wrong.ok()) << describe(wrong);
  EXPECT_EQ(wrong->type, Type::kError);
  EXPECT_TRUE(wrong->text.starts_with("ERR")) << wrong->text;
}

TEST(RedisClient, RepliesLargerThanOneReadArriveWhole) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = started_client(endpoint_of(server));
  std::string big(3 * 1024 * 1024 + 7, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(run(*client, {"SET", "big", big}).ok());
  // Several big replies back to back: none may wait for bytes that have already arrived.
  std::vector<Answer> answers(8);
  for (auto& answer : answers) client->command({"GET", "big"}, answer.callback());
  for (auto& answer : answers) {
    auto reply = answer.get();
    ASSERT_TRUE(reply.ok()) << describe(reply);
    EXPECT_EQ(reply->text, big);
  }
}

TEST(RedisClient, CommandsFromFourThreadsAreAllAnsweredInOrder) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = started_client(endpoint_of(server));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::mutex mutex;
  std::condition_variable all_done;
  std::vector<std::vector<long long>> seen(kThreads);
  int answered = 0;
  int failed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        client->command({"INCR", "counter:" + std::to_string(t)}, [&, t](Result<RedisReply> reply) {
          std::lock_guard lock(mutex);
          if (reply.ok() && reply->type == Type::kInteger) {
            seen[t].push_back(reply->integer);
          } else {
            ++failed;
          }
          if (++answered == kThreads * kPerThread) all_done.notify_all();
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::unique_lock lock(mutex);
  ASSERT_TRUE(all_done.wait_for(lock, kPatience, [&] { return answered == kThreads * kPerThread; }))
      << answered << " answered";
  EXPECT_EQ(failed, 0);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(seen[t][i], i + 1) << "thread " << t;
  }
}

TEST(RedisClient, CommandsIssuedBeforeTheConnectionIsUpWaitForIt) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = RedisClient::create(endpoint_of(server));
  Answer early;
  client->command({"PING"}, early.callback());
  client->start();
  auto reply = early.get();
  ASSERT_TRUE(reply.ok()) << describe(reply);
  EXPECT_EQ(reply->text, "PONG");
}

TEST(RedisClient, AWrongPasswordIsAnAuthenticationErrorNamingRedis) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server(RedisServerOptions{.password = "right-password"});
  auto endpoint = endpoint_of(server);
  endpoint.password = "wrong-password";
  auto client = started_client(endpoint);
  auto reply = run(*client, {"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().category, ErrorCategory::kAuthentication);
  EXPECT_FALSE(reply.error().retryable);
  const std::string& message = reply.error().message;
  EXPECT_TRUE(contains(message, "redis 127.0.0.1:" + std::to_string(server.port()) + "/0"))
      << message;
  EXPECT_TRUE(contains(message, "refused the password")) << message;
  EXPECT_TRUE(contains(message, "host.session_store")) << message;
  EXPECT_FALSE(contains(message, "wrong-password")) << message;
  EXPECT_FALSE(client->connected());
}

TEST(RedisClient, AnAclUserLogsInWithItsOwnPassword) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto admin = started_client(endpoint_of(server));
  auto created =
      run(*admin, {"ACL", "SETUSER", "mlbridge", "on", ">user-password", "~mlbridge:*", "+@all"});
  ASSERT_TRUE(created.ok()) << describe(created);
  ASSERT_EQ(created->type, Type::kStatus) << created->text;
  auto as_user = parse_redis_url(
      "redis://mlbridge:user-password@127.0.0.1:" + std::to_string(server.port()) + "/0");
  ASSERT_TRUE(as_user.ok());
  auto client = started_client(*as_user);
  auto allowed = run(*client, {"SET", "mlbridge:{s1}:lease", "host-a"});
  ASSERT_TRUE(allowed.ok()) << describe(allowed);
  EXPECT_EQ(allowed->text, "OK");
  auto denied = run(*client, {"SET", "elsewhere", "x"});  // outside the user's keys
  ASSERT_TRUE(denied.ok()) << describe(denied);
  EXPECT_EQ(denied->type, Type::kError);

  as_user->password = "not-its-password";
  auto refused = run(*started_client(*as_user), {"PING"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kAuthentication);
}

TEST(RedisClient, NoPasswordForARedisThatWantsOneIsAnAuthenticationError) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server(RedisServerOptions{.password = "right-password"});
  auto endpoint = endpoint_of(server);
  endpoint.password.clear();
  auto client = started_client(endpoint);
  auto reply = run(*client, {"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().category, ErrorCategory::kAuthentication);
  EXPECT_TRUE(contains(reply.error().message, "requires a password")) << reply.error().message;
  // With the password it works.
  auto good = started_client(endpoint_of(server));
  auto pong = run(*good, {"PING"});
  ASSERT_TRUE(pong.ok()) << describe(pong);
}

TEST(RedisClient, ADatabaseRedisDoesNotHaveIsAConfigurationError) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;  // 16 databases
  auto client = started_client(endpoint_of(server, 99));
  auto reply = run(*client, {"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().category, ErrorCategory::kInvalidConfiguration);
  EXPECT_TRUE(contains(reply.error().message, "SELECT 99")) << reply.error().message;
  // A database it has: the key lands there.
  auto other = started_client(endpoint_of(server, 3));
  ASSERT_TRUE(run(*other, {"SET", "where", "db3"}).ok());
  auto db0 = started_client(endpoint_of(server, 0));
  EXPECT_EQ(run(*db0, {"GET", "where"})->type, Type::kNil);
}

TEST(RedisClient, NoServerFailsAtOnceWithBridgeUnavailableNamingTheAddress) {
  testing::RefusingPort refusing;
  const auto url = refusing.url();  // http://127.0.0.1:PORT/v1
  const auto port = url.substr(17, url.find('/', 17) - 17);
  RedisEndpoint endpoint{.host = "127.0.0.1", .port = std::stoi(port)};
  // A connect timeout far beyond the test's patience: an answer proves the refusal was seen at
  // once, not waited out.
  auto client = started_client(endpoint, RedisClientOptions{.connect_timeout = 600s});
  auto reply = run(*client, {"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(reply.error().retryable);
  EXPECT_TRUE(contains(reply.error().message, "redis 127.0.0.1:" + port + "/0 is unreachable"))
      << reply.error().message;
  EXPECT_TRUE(contains(reply.error().message, "session calls fail until it is back"))
      << reply.error().message;
  // While it stays down, later commands fail at once too.
  auto again = run(*client, {"PING"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().category, ErrorCategory::kBridgeUnavailable);
}

TEST(RedisClient, AKilledServerFailsPendingCommandsAndTheClientReconnectsToItsReturn) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  testing::LogCapture log;
  auto client = started_client(
      endpoint_of(server),
      RedisClientOptions{.command_timeout = 600s, .reconnect_min = 10ms, .reconnect_max = 50ms});
  ASSERT_TRUE(run(*client, {"SET", "kept", "yes"}).ok());

  // Paused, it holds the commands unanswered; killed, it drops the connection under them.
  server.pause();
  std::vector<Answer> pending(20);
  for (auto& answer : pending) client->command({"INCR", "lost"}, answer.callback());
  server.kill();
  for (auto& answer : pending) {
    auto reply = answer.get();
    ASSERT_FALSE(reply.ok()) << describe(reply);
    EXPECT_EQ(reply.error().category, ErrorCategory::kBridgeUnavailable);
    EXPECT_TRUE(
        contains(reply.error().message, "redis 127.0.0.1:" + std::to_string(server.port()) + "/0"))
        << reply.error().message;
    EXPECT_EQ(answer.calls(), 1);
  }
  auto down = run(*client, {"GET", "kept"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().category, ErrorCategory::kBridgeUnavailable);

  server.restart();
  ASSERT_TRUE(wait_until_connected(*client));
  auto kept = run(*client, {"GET", "kept"});
  ASSERT_TRUE(kept.ok()) << describe(kept);
  EXPECT_EQ(kept->text, "yes");  // appendfsync always: the answered write survived the kill
  const std::string text = log.text();
  EXPECT_TRUE(contains(text, "is unreachable")) << text;
  EXPECT_TRUE(contains(text, "is back after")) << text;
}

TEST(RedisClient, AWorkingConnectionThatRedisClosesIsMadeAgainWithoutFailingCommands) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  testing::LogCapture log;
  auto client = started_client(endpoint_of(server));
  auto id = run(*client, {"CLIENT", "ID"});
  ASSERT_TRUE(id.ok()) << describe(id);
  // As Redis's idle `timeout`, a proxy or an operator would: the connection ends, Redis stays.
  auto admin = started_client(endpoint_of(server));
  auto killed = run(*admin, {"CLIENT", "KILL", "ID", std::to_string(id->integer)});
  ASSERT_TRUE(killed.ok()) << describe(killed);
  ASSERT_EQ(killed->integer, 1);
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  while (!contains(log.text(), "the connection was lost")) {
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << log.text();
    std::this_thread::sleep_for(5ms);
  }
  auto pong = run(*client, {"PING"});
  ASSERT_TRUE(pong.ok()) << describe(pong);
  auto new_id = run(*client, {"CLIENT", "ID"});
  ASSERT_TRUE(new_id.ok());
  EXPECT_NE(new_id->integer, id->integer);
  EXPECT_FALSE(contains(log.text(), "is unreachable")) << log.text();
}

TEST(RedisClient, AHungServerFailsCommandsAtTheCommandTimeoutAndIsUsedAgainWhenItAnswers) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = started_client(endpoint_of(server), RedisClientOptions{.connect_timeout = 300ms,
                                                                       .command_timeout = 300ms,
                                                                       .reconnect_min = 10ms,
                                                                       .reconnect_max = 50ms});
  ASSERT_TRUE(run(*client, {"PING"}).ok());
  server.pause();
  auto reply = run(*client, {"SET", "during", "pause"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(contains(reply.error().message, "did not answer within 300 ms"))
      << reply.error().message;
  EXPECT_FALSE(client->connected());
  server.resume();
  ASSERT_TRUE(wait_until_connected(*client));
  auto pong = run(*client, {"PING"});
  ASSERT_TRUE(pong.ok()) << describe(pong);
}

TEST(RedisClient, AScriptRunsBySha1AndAgainBySourceAfterARestartEmptiedTheScriptCache) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = started_client(endpoint_of(server),
                               RedisClientOptions{.reconnect_min = 10ms, .reconnect_max = 50ms});
  const auto script = client->script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  auto loaded = run(*client, {"SCRIPT", "LOAD", script.source()});
  ASSERT_TRUE(loaded.ok()) << describe(loaded);
  EXPECT_EQ(loaded->text, script.sha1());
  auto first = run(script, {"count"}, {"5"});
  ASSERT_TRUE(first.ok()) << describe(first);
  EXPECT_EQ(first->integer, 5);

  server.restart();
  ASSERT_TRUE(wait_until_connected(*client));
  auto exists = run(*client, {"SCRIPT", "EXISTS", script.sha1()});
  ASSERT_TRUE(exists.ok());
  ASSERT_EQ(exists->elements.size(), 1u);
  EXPECT_EQ(exists->elements[0].integer, 0);  // the cache is empty: EVALSHA answers NOSCRIPT
  auto second = run(script, {"count"}, {"2"});
  ASSERT_TRUE(second.ok()) << describe(second);
  EXPECT_EQ(second->type, Type::kInteger);
  EXPECT_EQ(second->integer, 7);

  // An error the script raises is a reply for the caller.
  const auto failing = client->script("return redis.error_reply('VERSION mismatch')");
  auto refused = run(failing, {});
  ASSERT_TRUE(refused.ok()) << describe(refused);
  EXPECT_EQ(refused->type, Type::kError);
  EXPECT_EQ(refused->text, "VERSION mismatch");
}

TEST(RedisClient, AnOutageIsLoggedOnceHoweverOftenTheReconnectFails) {
  testing::LogCapture log;
  ClosingListener listener;
  auto client = started_client(RedisEndpoint{.host = "127.0.0.1", .port = listener.port()},
                               RedisClientOptions{.reconnect_min = 1ms, .reconnect_max = 4ms});
  ASSERT_TRUE(listener.wait_for_connections(6));
  for (int i = 0; i < 20; ++i) {
    auto reply = run(*client, {"PING"});
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().category, ErrorCategory::kBridgeUnavailable);
  }
  client->stop();
  const std::string text = log.text();
  EXPECT_EQ(count_of(text, "is unreachable"), 1u) << text;
}

TEST(RedisClient, CommandsBeyondTheWaitingLimitFailAtOnce) {
  auto client = RedisClient::create(RedisEndpoint{.host = "127.0.0.1", .port = 1},
                                    RedisClientOptions{.connect_timeout = 600s, .max_waiting = 3});
  std::vector<Answer> waiting(3);
  for (auto& answer : waiting) client->command({"PING"}, answer.callback());
  auto refused = run(*client, {"PING"});  // not started: the first three still wait
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category, ErrorCategory::kBridgeUnavailable);
  EXPECT_TRUE(contains(refused.error().message, "3 commands already wait"))
      << refused.error().message;
  for (auto& answer : waiting) EXPECT_EQ(answer.calls(), 0);
  client->stop();
  for (auto& answer : waiting) EXPECT_EQ(answer.calls(), 1);
}

TEST(RedisClient, StopFailsEveryPendingCommandOnceAndLaterOnesAtOnce) {
  MLBRIDGE_SKIP_WITHOUT_REDIS();
  RedisServer server;
  auto client = started_client(endpoint_of(server), RedisClientOptions{.command_timeout = 600s});
  ASSERT_TRUE(run(*client, {"PING"}).ok());
  server.pause();
  std::vector<Answer> pending(50);
  for (auto& answer : pending) client->command({"INCR", "n"}, answer.callback());
  client->stop();
  for (auto& answer : pending) {
    auto reply = answer.get();
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().category, ErrorCategory::kBridgeUnavailable);
    EXPECT_TRUE(contains(reply.error().message, "shutting down")) << reply.error().message;
    EXPECT_EQ(answer.calls(), 1);
  }
  Answer late;
  client->command({"PING"}, late.callback());
  EXPECT_EQ(late.calls(), 1);  // on the calling thread, before command() returned
  EXPECT_FALSE(late.get().ok());
  client->stop();  // idempotent
  for (auto& answer : pending) EXPECT_EQ(answer.calls(), 1);
}

TEST(RedisClient, StopFailsCommandsThatWaitForTheFirstConnection) {
  auto client = RedisClient::create(RedisEndpoint{.host = "127.0.0.1", .port = 1});
  Answer waiting;
  client->command({"PING"}, waiting.callback());  // not started: it waits
  client->stop();
  auto reply = waiting.get();
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(contains(reply.error().message, "shutting down")) << reply.error().message;
  EXPECT_EQ(waiting.calls(), 1);
}

}  // namespace
}  // namespace mlbridge::store
