-- Reserve a contact if the account has not changed since the decision read it.
-- KEYS: account hash, contacts zset, shard log, decision hash, shard timers
-- ARGV: 1 expected ver, 2 lock value (decision|channel|expires), 3 contact score, 4 contact
--       member, 5 how far behind the account's newest contact its history is kept (s),
--       6 record JSON (the log's: the dataflow learns from it, the timeline shows it),
--       7 account id, 8 timer deadline, 9 timer member, 10 log maxlen,
--       11 (dialer leases) hold the account in its campaign until this time,
--       12 the time the lock starts (the request's time, never later than the server's clock),
--       13 the answer JSON, for a decision whose id comes from a request_id ('' otherwise),
--       14 the end of the response window (a timer of its own: member ARGV[9] .. '|r'),
--       15 the decision hash's ttl (s): it serves cancels, outcomes and repeats, not history,
--       16 the decision's time (its record's `ts`; the member gives its channel and point)
-- KEYS 6-7 (dialer leases only): the campaign's ready and held sets in this shard
-- Returns 1 when reserved, 0 when the account changed or a live reservation holds it (the
-- caller re-reads and decides again), or the answer the decision already has: a request_id
-- makes the decision id, so a repeat (a retry, a concurrent duplicate) finds its first answer.
--
-- Two reservations never overlap, whatever order the requests' times come in: a lock that
-- expires after this one starts refuses it, and a lock superseded without an outcome (it
-- expired first) leaves its expiry in `lock_floor`, before which no reservation may start.
-- History is trimmed by the account's own newest contact, never by a request's time; the
-- account's `c_trim` keeps how far, so a decision never counts on contacts it no longer has.
if ARGV[13] ~= '' then
  local prior = redis.call('HGET', KEYS[4], 'answer')
  if prior then
    return prior
  end
end
if (redis.call('HGET', KEYS[1], 'ver') or '0') ~= ARGV[1] then
  return 0
end
local start = tonumber(ARGV[12])
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
local cutoff = tonumber(newest[2]) - tonumber(ARGV[5])
if redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff) > 0 then
  -- the history is whole from here on only: a cancel of the newest contact must not hide that
  if cutoff > tonumber(redis.call('HGET', KEYS[1], 'c_trim') or '-1e18') then
    redis.call('HSET', KEYS[1], 'c_trim', cutoff)
  end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', 'r', ARGV[6])
redis.call('HSET', KEYS[4], 'account', ARGV[7], 'member', ARGV[4], 'state', 'reserved', 'made', ARGV[16])
if ARGV[13] ~= '' then
  redis.call('HSET', KEYS[4], 'answer', ARGV[13])
end
redis.call('EXPIRE', KEYS[4], ARGV[15])
redis.call('ZADD', KEYS[5], ARGV[8], ARGV[9])
if ARGV[14] ~= '' and ARGV[14] ~= ARGV[8] then
  redis.call('ZADD', KEYS[5], ARGV[14], ARGV[9] .. '|r')
end
if #KEYS == 7 then
  redis.call('ZREM', KEYS[6], ARGV[7])
  redis.call('ZADD', KEYS[7], ARGV[11], ARGV[7])
end
return 1
