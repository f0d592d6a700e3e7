-- Publish a model version: keep it for the retention period and make it current, unless a
-- later version already is (a dataflow resumed after a crash publishes its versions again).
-- KEYS: 1 the version's hash, 2 the current-version key, 3 the index zset
-- ARGV: 1 version, 2 its sequence number, 3 retention (s), 4 now (UNIX s), then field/value pairs
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
if redis.call('EXISTS', KEYS[1]) == 0 then  -- a version's content never changes: keep the first
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (tonumber(ARGV[4]) - tonumber(ARGV[3])))
local current = redis.call('GET', KEYS[2])
local seq = current and tonumber(string.match(current, '(%d+)$')) or -1
if tonumber(ARGV[2]) > seq then
  redis.call('SET', KEYS[2], ARGV[1])
  return 1
end
return 0
