-- Apply a batch of events of one shard: dedupe by event id, apply the binding facts,
-- append to the shard's log (the dataflow learns from it and archives the timelines from it).
-- Atomic per call.
-- KEYS[1]: the shard's log stream; then 4 keys per event: account hash, seen-ids zset (by
--   event time), decision hash (or the account hash if none), and the seen-ids set of
--   earlier versions (read only: ids applied before the window existed)
-- ARGV[1..3]: log maxlen, dedup window (s), and the server's clock ('' in data mode); then
--   7 args per event:
--   event id, account id, has-decision flag ('1'/'0'), record JSON, ops JSON, event time,
--   and the id as the window keeps it (8 bytes of its hash: connectors/store/events.py)
-- Dedup window: ids are kept while their event time is within the window of the newest
-- (the server's clock in wall mode, the account's newest event in data mode: `e_at`). The
-- caller refuses events older than that, so an event is still applied once, ever. Ids kept
-- whole by an earlier version still count until the window passes them.
-- ops: {"optout", channel, ts} | {"promise", json, ts} | {"pay", amount} | {"dispute", ts}
--      | {"release", decision_id or "", revoke reason?} | {"conversation", ts} | {"direct", ts, channel}
--      | {"intent", ts, intent}: the debtor's last reply intent (journeys)
-- A release with a reason revokes the live reservation: `revoked` = decision id|reason.
-- Returns {applied, duplicates}.
-- Keep the newest `ts|value` of a field: an older event arriving late changes nothing.
local function newest(acct, field, ts, value)
  local prev = redis.call('HGET', acct, field)
  local prev_ts = prev and tonumber(string.match(prev, '^[^|]+')) or -1e18
  if tonumber(ts) > prev_ts then
    redis.call('HSET', acct, field, value and (ts .. '|' .. value) or ts)
    return true
  end
  return false
end

local applied, dups = 0, 0
local window, wall = tonumber(ARGV[2]), ARGV[3]
local n = (#KEYS - 1) / 4
for i = 0, n - 1 do
  local k = 2 + i * 4
  local acct, seen, dec, legacy = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local a = 4 + i * 7
  local event_id, account_id, has_dec, record, ops = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local ts, member = tonumber(ARGV[a + 5]), ARGV[a + 6]
  if redis.call('ZSCORE', seen, member) or redis.call('ZSCORE', seen, event_id)
      or redis.call('SISMEMBER', legacy, event_id) == 1 then
    dups = dups + 1
  else
    applied = applied + 1
    redis.call('ZADD', seen, ts, member)
    local latest = ts
    if wall ~= '' then
      latest = tonumber(wall)
      redis.call('EXPIRE', seen, math.ceil(window) + 86400)  -- idle past the window: nothing to keep
    else
      latest = math.max(ts, tonumber(redis.call('HGET', acct, 'e_at') or '-1e18'))
      redis.call('HSET', acct, 'e_at', latest)
    end
    redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (latest - window))
    local changed = false
    for _, op in ipairs(cjson.decode(ops)) do
      local name = op[1]
      if name == 'optout' then
        redis.call('HSETNX', acct, 'oo:' .. op[2], op[3])
        changed = true
      elseif name == 'promise' then
        local prev = tonumber(redis.call('HGET', acct, 'ptp_ts') or '-1e18')
        if tonumber(op[3]) >= prev then
          local paid = redis.call('HGET', acct, 'paid') or '0'
          redis.call('HSET', acct, 'ptp', op[2], 'ptp_ts', op[3], 'ptp_paid', paid)
          changed = true
        end
      elseif name == 'pay' then
        redis.call('HINCRBYFLOAT', acct, 'paid', op[2])
        changed = true
      elseif name == 'dispute' then
        redis.call('HSETNX', acct, 'disp', op[2])
        changed = true
      elseif name == 'conversation' then
        changed = newest(acct, 'conv', op[2]) or changed
      elseif name == 'intent' then
        changed = newest(acct, 'intent', op[2], op[3]) or changed
      elseif name == 'direct' then
        changed = newest(acct, 'direct', op[2], op[3]) or changed
      elseif name == 'release' then
        local lock = redis.call('HGET', acct, 'lock')
        if lock and (op[2] == '' or string.sub(lock, 1, #op[2] + 1) == op[2] .. '|') then
          redis.call('HDEL', acct, 'lock')
          if op[3] then
            redis.call('HSET', acct, 'revoked', string.match(lock, '^[^|]+') .. '|' .. op[3])
          end
          changed = true
        end
      end
    end
    if changed then
      redis.call('HINCRBY', acct, 'ver', 1)
    end
    if has_dec == '1' and redis.call('HGET', dec, 'account') == account_id then
      redis.call('HSET', dec, 'state', 'used')
    end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'r', record)
  end
end
return {applied, dups}
