#pragma once

// The Lua scripts of the Redis session store (redis_session_store.cpp). Each runs atomically in
// Redis, so a lease check and the write it guards can never interleave with another host's.
// Keys per session share a hash tag, so one session's keys live in one Redis Cluster slot:
//   KEYS[1] = mlbridge:{<sid>}:lease  (string: the owner's host id, with a PX expiry)
//   KEYS[2] = mlbridge:{<sid>}:data   (hash: version, state, journal:<bridge>)
// A refusal because another host holds the lease answers {0, owner, pttl}.

namespace mlbridge::store::lua {

// ARGV: host id, lease ms. Takes (or renews) the lease when it is free or this host's, and
// answers {1, {field, value, ...}} with the session's data hash.
inline constexpr const char* kClaim = R"lua(
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  return {0, owner, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('HGETALL', KEYS[2])}
)lua";

// ARGV: host id, lease ms, expected version, then field/value pairs to write (state,
// journal:<bridge>). Writes only when the lease is this host's (or lapsed with nobody taking it)
// and the version is the expected one; bumps the version and renews the lease. Answers
// {1, new version}, {0, owner, pttl}, or {-1, current version}.
inline constexpr const char* kSave = R"lua(
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  return {0, owner, redis.call('PTTL', KEYS[1])}
end
local current = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
if current ~= tonumber(ARGV[3]) then
  return {-1, tostring(current)}
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, version}
)lua";

// ARGV: host id. Removes the session when no other host holds it: {1, 1 if it existed}.
inline constexpr const char* kEnd = R"lua(
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  return {0, owner, redis.call('PTTL', KEYS[1])}
end
local existed = redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[1])
return {1, existed}
)lua";

// ARGV: host id, lease ms. Renews the lease if it is still this host's: 1, else 0.
inline constexpr const char* kExtend = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

// ARGV: host id. Drops the lease if it is this host's, so another host may take the session now.
inline constexpr const char* kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

}  // namespace mlbridge::store::lua
