-- Set an account's priority in a campaign (one shard), or take it out of the campaign.
-- KEYS: ready zset, held zset, priority hash
-- ARGV: 1 account id, 2 priority ('' = not in the campaign), 3 '1' to make it ready now
--       (something happened to the account: its hold is re-checked when it reaches the top)
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
elseif not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
return 1
