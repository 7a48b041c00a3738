#include <boost/uuid/detail/sha1.hpp>
#include <cstdio>

#include "mlbridge/store/redis_client.hpp"

namespace mlbridge::store {
namespace {

std::string lua_sha1_hex(const std::string& source) {
  boost::uuids::detail::sha1 hash;
  hash.process_bytes(source.data(), source.size());
  boost::uuids::detail::sha1::digest_type digest;
  hash.get_digest(digest);
  std::string hex;
  char word[9];
  for (unsigned int part : digest) {
    std::snprintf(word, sizeof word, "%08x", part);
    hex += word;
  }
  return hex;
}

}  // namespace

RedisScript::RedisScript(std::weak_ptr<RedisClient> client, std::string source)
    : client_(std::move(client)), source_(std::move(source)), sha1_(lua_sha1_hex(source_)) {}

void RedisScript::run(std::vector<std::string> keys, std::vector<std::string> args,
                      RedisClient::Callback done) const {
  const auto client = client_.lock();
  if (!client) {
    done(fail(ErrorCategory::kBridgeUnavailable,
              "the Redis client of this script is gone (the host is shutting down)"));
    return;
  }
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(sha1_);
  argv.push_back(std::to_string(keys.size()));
  for (auto& key : keys) argv.push_back(std::move(key));
  for (auto& arg : args) argv.push_back(std::move(arg));
  // The callback runs on the client's loop thread, which lives exactly as long as the client: a
  // plain pointer is safe there, and holding no reference never makes that thread the one that
  // destroys the client.
  RedisClient* runner = client.get();
  auto fallback = argv;
  fallback[0] = "EVAL";
  fallback[1] = source_;
  client->command(std::move(argv), [runner, fallback = std::move(fallback),
                                    done = std::move(done)](Result<RedisReply> reply) mutable {
    if (reply.ok() && reply->type == RedisReply::Type::kError &&
        reply->text.starts_with("NOSCRIPT")) {
      runner->command(std::move(fallback), std::move(done));
      return;
    }
    done(std::move(reply));
  });
}

}  // namespace mlbridge::store
