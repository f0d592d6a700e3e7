-- Claim candidates for one dialer request, so concurrent requests work on different accounts:
-- each account still in the ready set moves to the held set until `until` (event time); one
-- another request claimed first is left alone. The request then leases, parks or releases
-- every account it claimed.
-- KEYS: ready zset, held zset (one campaign, one shard)
-- ARGV: 1 until, then the account ids
-- Returns one 1 (claimed) or 0 per account.
local out = {}
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
