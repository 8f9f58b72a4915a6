-- Settles budget reservations to the requests' actual usage, each exactly
-- once, for a batch of requests of one tenant. (Their rate limits are
-- settled through the replica's leases: settle.lua.)
--
-- KEYS[1] budget reservations (hash), KEYS[2..] the budget counters.
-- ARGV: one group per request: request id, admission time (ms), the number
-- of budget checks, then four per check: key index, field, delta (actual -
-- reserved), actual.
-- While a reservation stands, the delta is added. If it is gone, the reaper
-- settled it, unless the counter was reloaded from the ledger after
-- admission, which cannot have seen this request: then the actual amount
-- is charged.
-- Returns, per request, 1 when its reservation was settled here, else 0.

local settled = {}
local i = 1
while i <= #ARGV do
  local held = redis.call('HDEL', KEYS[1], ARGV[i]) == 1
  local admitted, checks = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  for _ = 1, checks do
    local key, field, delta, actual = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if held then
      if delta ~= '0' then redis.call('HINCRBY', key, field, delta) end
    else
      local init = tonumber(redis.call('HGET', key, 'init') or '0')
      if init > admitted and actual ~= '0' then
        redis.call('HINCRBY', key, field, actual)
      end
    end
    i = i + 4
  end
  settled[#settled + 1] = held and 1 or 0
end
return settled
