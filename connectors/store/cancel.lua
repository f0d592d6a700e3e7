-- Release a reservation that was not used.
-- KEYS: account hash, contacts zset, shard log, decision hash
-- ARGV: 1 decision id, 2 record JSON, 3 log maxlen
-- Returns 1 cancelled, 0 already cancelled, -1 unknown decision, -2 already used.
local state = redis.call('HGET', KEYS[4], 'state')
if not state then
  return -1
end
if state == 'cancelled' then
  return 0
end
if state == 'used' then
  return -2
end
redis.call('HSET', KEYS[4], 'state', 'cancelled')
redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[4], 'member'))
local lock = redis.call('HGET', KEYS[1], 'lock')
if lock and string.sub(lock, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('HDEL', KEYS[1], 'lock')
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[2])
return 1
