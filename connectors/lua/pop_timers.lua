-- Pop the attribution timers due at or before the shard's watermark, at most ARGV[2] of them
-- (the earliest), atomically: a timer added between a read and a remove would otherwise be
-- lost. The limit bounds how long the script holds Redis (the API's requests wait meanwhile);
-- the reader comes back for the rest.
-- KEYS[1]: the shard's timers zset; ARGV[1]: the watermark (event time, seconds); ARGV[2]: limit
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
if #due > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #due / 2 - 1)
end
return due
