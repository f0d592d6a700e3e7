-- Apply a batch of events of one shard: dedupe by event id, apply the binding facts,
-- append to the shard's log and the account's timeline. Atomic per call.
-- KEYS[1]: the shard's log stream; then 4 keys per event:
--   account hash, seen-ids set, timeline stream, decision hash (or the account hash if none)
-- ARGV[1..3]: log maxlen, timeline maxlen, timeline ttl (s); then 5 args per event:
--   event id, account id, has-decision flag ('1'/'0'), record JSON, ops JSON
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
local n = (#KEYS - 1) / 4
for i = 0, n - 1 do
  local acct, seen, tl, dec = KEYS[2 + i * 4], KEYS[3 + i * 4], KEYS[4 + i * 4], KEYS[5 + i * 4]
  local a = 4 + i * 5
  local event_id, account_id, has_dec, record, ops = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if redis.call('SADD', seen, event_id) == 0 then
    dups = dups + 1
  else
    applied = applied + 1
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
    redis.call('XADD', tl, 'MAXLEN', '~', ARGV[2], '*', 'r', record)
    redis.call('EXPIRE', tl, ARGV[3])
  end
end
return {applied, dups}
