-- Returns and renews what a replica leased of one tenant's rate limits, in
-- one call. Every key shares the tenant's hash tag.
--
-- KEYS: the limits' keys. ARGV[1] now (ms), then groups of four: kind, key
-- index, a, b.
--   w  window correction: add `b` to second `a`'s bucket and to the
--      window's total, if that bucket is still in the window (a lease's
--      unused units, or a request's actual tokens against its estimate)
--   r  renew concurrency slots: `b` (space-separated) now expire at `a` (ms)
--   x  release concurrency slots `b`
-- Returns the number of groups applied.

local now = tonumber(ARGV[1])
local applied = 0
for i = 2, #ARGV, 4 do
  local kind, key, a, b = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  if kind == 'w' then
    if redis.call('HEXISTS', key, a) == 1 then
      redis.call('HINCRBY', key, a, b)
      redis.call('HINCRBY', key, 't', b)
      applied = applied + 1
    end
  else
    local slots = {}
    for slot in string.gmatch(b, '%S+') do
      if kind == 'r' then slots[#slots + 1] = a end
      slots[#slots + 1] = slot
    end
    if #slots > 0 then
      if kind == 'r' then
        redis.call('ZADD', key, 'XX', unpack(slots))
        -- The set outlives its slots, whose expiry the admission script reads.
        redis.call('PEXPIRE', key, 2 * math.max(tonumber(a) - now, 1000))
      else
        redis.call('ZREM', key, unpack(slots))
      end
      applied = applied + 1
    end
  end
end
return applied
