-- Confirm a decision just before its contact is sent (POST /v1/decisions/{id}/confirm): the
-- decision still stands if its reservation still holds the account and nothing revoked it.
-- KEYS: decision hash, account hash. ARGV: 1 decision id, 2 now (the clock locks are judged by)
-- Returns {'ok'} (the decision is marked sent; a repeat answers the same) or {'no', reason}:
-- promise | payment | optout | dispute (a release that revoked it), direct_contact (the debtor
-- was reached on another channel after the decision), cancelled, expired, released (an
-- outcome came, or another reservation took the account), or {'unknown'}.
local dec = redis.call('HMGET', KEYS[1], 'state', 'member', 'made', 'record')
local state, member, made, record = dec[1], dec[2], dec[3], dec[4]
if not state then
  return {'unknown'}
end
local prefix = ARGV[1] .. '|'
local revoked = redis.call('HGET', KEYS[2], 'revoked') or ''
if string.sub(revoked, 1, #prefix) == prefix then
  return {'no', string.sub(revoked, #prefix + 1)}
end
if state == 'cancelled' then
  return {'no', 'cancelled'}
end
if state == 'sent' then
  return {'ok'}
end
local lock = redis.call('HGET', KEYS[2], 'lock') or ''
if state == 'used' or string.sub(lock, 1, #prefix) ~= prefix then
  return {'no', 'released'}
end
if tonumber(string.match(lock, '|([^|]*)$')) < tonumber(ARGV[2]) then
  return {'no', 'expired'}
end
local direct = redis.call('HGET', KEYS[2], 'direct')
if not made and record then  -- a hash written before `made` (it kept the whole record)
  made = cjson.decode(record).ts
end
if direct and made then
  local at, channel = string.match(direct, '^([^|]+)|(.*)$')
  local mine = string.match(member or '', '^[^|]*|([^|]*)|')
  if at and made and channel ~= mine and tonumber(at) > tonumber(made) then
    return {'no', 'direct_contact'}
  end
end
redis.call('HSET', KEYS[1], 'state', 'sent', 'sent_at', ARGV[2])
return {'ok'}
