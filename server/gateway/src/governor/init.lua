-- Starts a budget counter from the ledger unless another replica did first.
-- KEYS[1] the counter; ARGV: now (ms), tokens, cost, time to live (s, 0 = none)
-- The time to live is relative, so Redis's clock decides when it ends: an
-- absolute expiry from a replica whose clock runs behind could lie in
-- Redis's past and drop the counter at once. Never less than an hour.
if redis.call('HSETNX', KEYS[1], 'init', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 't', ARGV[2], 'c', ARGV[3])
  local ttl = tonumber(ARGV[4])
  if ttl ~= 0 then redis.call('EXPIRE', KEYS[1], math.max(ttl, 3600)) end
end
return 1
