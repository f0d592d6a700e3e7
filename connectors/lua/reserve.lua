-- Reserve a contact if the account has not changed since the decision read it.
-- KEYS: account hash, contacts zset, shard log, timeline, decision hash, shard timers
-- ARGV: 1 expected ver, 2 lock value, 3 contact score, 4 contact member, 5 trim contacts
--       before this score, 6 record JSON, 7 account id, 8 ttl (s), 9 timer deadline,
--       10 timer member, 11 log maxlen, 12 timeline maxlen
--       13 (dialer leases) hold the account in its campaign until this time
-- KEYS 7-8 (dialer leases only): the campaign's ready and held sets in this shard
-- Returns 1 when reserved, 0 when the account changed (the caller re-reads and decides again).
if (redis.call('HGET', KEYS[1], 'ver') or '0') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'lock', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[11], '*', 'r', ARGV[6])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[12], '*', 'r', ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[8])
redis.call('HSET', KEYS[5], 'account', ARGV[7], 'member', ARGV[4], 'state', 'reserved', 'record', ARGV[6])
redis.call('EXPIRE', KEYS[5], ARGV[8])
redis.call('ZADD', KEYS[6], ARGV[9], ARGV[10])
if #KEYS == 8 then
  redis.call('ZREM', KEYS[7], ARGV[7])
  redis.call('ZADD', KEYS[8], ARGV[13], ARGV[7])
end
return 1
