-- Take a carrier for one attempt: the first, in the router's order, that has room under its
-- calls-per-second limit in this second of event time (shared by every API process). A
-- carrier behind an open breaker is offered first only as a probe, and only one probe per
-- carrier and network per interval is handed out.
-- KEYS: probe slot key, then one per-second counter key per carrier in order
-- ARGV: 1 '1' when KEYS[1] is a real probe slot, 2 probe interval (s), then one limit per
--       carrier in order ('' = no limit)
-- Returns the 1-based position of the carrier taken in the counters list, or 0 if none.
local first = 1
if ARGV[1] == '1' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
    first = 2  -- another process holds this interval's probe: route as if it were closed
  end
end
for i = first, #KEYS - 1 do
  local limit = ARGV[2 + i]
  if limit == '' then
    return i
  end
  local n = redis.call('INCR', KEYS[1 + i])
  if n == 1 then
    redis.call('EXPIRE', KEYS[1 + i], 2)
  end
  if n <= tonumber(limit) then
    return i
  end
end
return 0
