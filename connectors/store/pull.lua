-- A campaign's best candidates in one shard: first bring back held accounts whose time
-- has come (with its current priority), then answer the top of the ready set. Accounts whose
-- priority is not positive (a call is worth less than it costs) are never candidates.
-- At most 256 held accounts come back a call (the rest at the next pulls): moving 1,000 took
-- over 2 ms of Redis in the speed suite, every client waiting behind it.
-- KEYS: ready zset, held zset, priority hash (one campaign, one shard)
-- ARGV: 1 now (event time, s), 2 how many
-- Returns a flat list: account, priority, account, priority, ...
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 256)
for _, account in ipairs(due) do
  local prio = redis.call('HGET', KEYS[3], account)
  redis.call('ZREM', KEYS[2], account)
  if prio then
    redis.call('ZADD', KEYS[1], prio, account)
  end
end
return redis.call('ZRANGE', KEYS[1], '+inf', '(0', 'BYSCORE', 'REV', 'LIMIT', 0, tonumber(ARGV[2]), 'WITHSCORES')
