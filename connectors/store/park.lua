-- Hold an account out of a campaign's ready set until `until` (event time), when a rule
-- holds it back or a lease is out; pull.lua brings it back then.
-- KEYS: ready zset, held zset
-- ARGV: 1 account id, 2 until (s)
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
