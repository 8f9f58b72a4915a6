-- Settles one request: corrects token windows to the actual usage, frees
-- its concurrency slots, and settles its budget reservation, exactly once.
--
-- KEYS[1] reservations (zset), KEYS[2] this request's reservation (hash),
-- KEYS[3..] the checks' keys.
-- ARGV[1] request id, ARGV[2] the window second charged at admission,
-- ARGV[3] admission time (ms), then groups of five: kind, key index, field,
-- delta, actual.
--   w  add delta to the admission second's bucket and the window's total
--      (if the bucket is still in the window)
--   c  free the request's slot
--   b  add delta (actual - reserved) while the reservation stands; if it is
--      gone, the reaper settled it, unless the counter was reloaded from the
--      ledger after admission, which cannot have seen this request: then
--      charge the actual amount.
-- Returns 1 when the reservation was settled here, 0 otherwise.

local held = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
redis.call('DEL', KEYS[2])
local admitted = tonumber(ARGV[3])
for i = 4, #ARGV, 5 do
  local kind, key, field, delta, actual = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if kind == 'w' then
    if delta ~= '0' and redis.call('HEXISTS', key, ARGV[2]) == 1 then
      redis.call('HINCRBY', key, ARGV[2], delta)
      redis.call('HINCRBY', key, 't', delta)
    end
  elseif kind == 'c' then
    redis.call('ZREM', key, ARGV[1])
  elseif held then
    if delta ~= '0' then redis.call('HINCRBY', key, field, delta) end
  else
    local init = tonumber(redis.call('HGET', key, 'init') or '0')
    if init > admitted and actual ~= '0' then
      redis.call('HINCRBY', key, field, actual)
    end
  end
end
if held then return 1 end
return 0
