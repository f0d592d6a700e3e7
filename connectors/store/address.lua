-- Keep one account's entries in its address shard's index (connectors/KEYS.md).
-- KEYS[1]: the shard's address hash (normalised address -> space-separated account ids)
-- ARGV[1]: account id, ARGV[2]: most ids kept per address; then pairs: op ('+' or '-'), address
-- '+' moves the account to the end (the newest holder of the address), '-' removes it; an
-- address left with no account is deleted. The oldest holders beyond the limit are dropped.
local account, limit = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local op, address = ARGV[i], ARGV[i + 1]
  local ids = {}
  for id in string.gmatch(redis.call('HGET', KEYS[1], address) or '', '%S+') do
    if id ~= account then
      ids[#ids + 1] = id
    end
  end
  if op == '+' then
    ids[#ids + 1] = account
  end
  while #ids > limit do
    table.remove(ids, 1)
  end
  if #ids == 0 then
    redis.call('HDEL', KEYS[1], address)
  else
    redis.call('HSET', KEYS[1], address, table.concat(ids, ' '))
  end
end
return 1
