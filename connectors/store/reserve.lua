-- Reserve a contact if the account has not changed since the decision read it.
-- KEYS: account hash, contacts zset, shard log, timeline, decision hash, shard timers
-- ARGV: 1 expected ver, 2 lock value (decision|channel|expires), 3 contact score, 4 contact
--       member, 5 how far behind the account's newest contact its history is kept (s),
--       6 record JSON, 7 account id, 8 ttl (s), 9 timer deadline, 10 timer member,
--       11 log maxlen, 12 timeline maxlen,
--       13 (dialer leases) hold the account in its campaign until this time,
--       14 the time the lock starts (the request's time, never later than the server's clock),
--       15 the answer JSON, for a decision whose id comes from a request_id ('' otherwise),
--       16 the end of the response window (a timer of its own: member ARGV[10] .. '|r'),
--       17 the decision hash's ttl (s): it serves cancels, outcomes and repeats, not history,
--       18 the record without its model inputs (for the timeline and the decision hash)
-- KEYS 7-8 (dialer leases only): the campaign's ready and held sets in this shard
-- Returns 1 when reserved, 0 when the account changed or a live reservation holds it (the
-- caller re-reads and decides again), or the answer the decision already has: a request_id
-- makes the decision id, so a repeat (a retry, a concurrent duplicate) finds its first answer.
--
-- Two reservations never overlap, whatever order the requests' times come in: a lock that
-- expires after this one starts refuses it, and a lock superseded without an outcome (it
-- expired first) leaves its expiry in `lock_floor`, before which no reservation may start.
-- History is trimmed by the account's own newest contact, never by a request's time.
if ARGV[15] ~= '' then
  local prior = redis.call('HGET', KEYS[5], 'answer')
  if prior then
    return prior
  end
end
if (redis.call('HGET', KEYS[1], 'ver') or '0') ~= ARGV[1] then
  return 0
end
local start = tonumber(ARGV[14])
local floor = tonumber(redis.call('HGET', KEYS[1], 'lock_floor') or '0')
if floor > start then
  return 0
end
local lock = redis.call('HGET', KEYS[1], 'lock')
if lock then
  local expires = tonumber(string.match(lock, '([^|]+)$'))
  if expires > start then
    return 0
  end
  if expires > floor then
    redis.call('HSET', KEYS[1], 'lock_floor', expires)
  end
end
redis.call('HSET', KEYS[1], 'lock', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(newest[2]) - tonumber(ARGV[5])))
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[11], '*', 'r', ARGV[6])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[12], '*', 'r', ARGV[18])
redis.call('EXPIRE', KEYS[4], ARGV[8])
redis.call('HSET', KEYS[5], 'account', ARGV[7], 'member', ARGV[4], 'state', 'reserved', 'record', ARGV[18])
if ARGV[15] ~= '' then
  redis.call('HSET', KEYS[5], 'answer', ARGV[15])
end
redis.call('EXPIRE', KEYS[5], ARGV[17])
redis.call('ZADD', KEYS[6], ARGV[9], ARGV[10])
if ARGV[16] ~= '' and ARGV[16] ~= ARGV[9] then
  redis.call('ZADD', KEYS[6], ARGV[16], ARGV[10] .. '|r')
end
if #KEYS == 8 then
  redis.call('ZREM', KEYS[7], ARGV[7])
  redis.call('ZADD', KEYS[8], ARGV[13], ARGV[7])
end
return 1
