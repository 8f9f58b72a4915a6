-- Starts a budget counter from the ledger unless another replica did first.
-- KEYS[1] the counter; ARGV: now (ms), tokens, cost, expiry (unix s, 0 = none)
if redis.call('HSETNX', KEYS[1], 'init', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 't', ARGV[2], 'c', ARGV[3])
  if ARGV[4] ~= '0' then redis.call('EXPIREAT', KEYS[1], ARGV[4]) end
end
return 1
