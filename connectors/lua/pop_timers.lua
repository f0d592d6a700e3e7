-- Pop every attribution timer due at or before the shard's watermark, atomically (a timer
-- added between a read and a remove would otherwise be lost).
-- KEYS[1]: the shard's timers zset; ARGV[1]: the watermark (event time, seconds)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
if #due > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
return due
