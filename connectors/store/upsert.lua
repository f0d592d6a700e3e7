-- Upsert one account's document and tell the dataflow.
-- KEYS: account hash, shard log, shard account index
-- ARGV: 1 document JSON, 2 record JSON, 3 log maxlen, 4 account id,
--       5 the account's normalised addresses, newline-separated
-- `balance` in the document is what is owed now: payments already received do not count
-- against it again (`paid_base`, the paid total at this upload).
-- Returns the addresses the account had before, so the caller can update the address
-- index (its keys live in other slots: connectors/store/address.lua).
local before = redis.call('HGET', KEYS[1], 'addrs') or ''
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'paid_base', redis.call('HGET', KEYS[1], 'paid') or '0',
  'addrs', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[2])
return before
