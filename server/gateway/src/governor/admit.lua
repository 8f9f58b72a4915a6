-- Checks every limit and budget of one request and charges them all, or
-- none: one atomic round trip. Every key shares the tenant's hash tag, so
-- this runs on one node of a Redis Cluster.
--
-- KEYS[1] budget reservations (hash: request id -> "<lease expiry ms>|<details>"),
-- KEYS[2..] the checks' keys
-- ARGV[1] now (ms), ARGV[2] request id, ARGV[3] reservation lease (ms),
-- ARGV[4] reservation details ("field=value;..."), ARGV[5] lease divisor,
-- then one group of seven per check: kind, key index, limit, amount, field,
-- soft threshold, extra.
--   w  sliding 60 s window of 1 s buckets (hash: second -> count, plus
--      t = the window's total and lo = its oldest bucket, so a check costs
--      O(1) instead of a scan of the buckets). `extra` units more may be
--      granted to the replica as a lease, charged to this second's bucket.
--   c  concurrency (zset: slot -> expiry ms). `field` names the slots
--      (prefix .. ':' .. n), `soft` is their time to live (ms), and
--      `extra` slots more may be granted as a lease.
--   b  budget (hash: init, t, c); limit and soft are "maximum - amount"
--      as decimal strings, compared as strings so values beyond 2^53 stay
--      exact (Lua numbers are doubles).
-- A lease is at most 1/divisor of the headroom left after this request, so
-- it shrinks to nothing near the limit and the boundary stays exact.
-- Returns {1, second, used..., granted...} | {0, check, retry_after_ms, used}
-- | {-1, check} ({-1} means a budget's counter must first be loaded from
-- the ledger).

local now = tonumber(ARGV[1])
local second = math.floor(now / 1000)
local lease = tonumber(ARGV[3])
local divisor = tonumber(ARGV[5])

local function le(a, b) -- a <= b for non-negative decimal strings
  if #a ~= #b then return #a < #b end
  return a <= b
end

-- The window's total after dropping buckets older than 60 s, and whether
-- the window is new.
local function window_total(key)
  local fields = redis.call('HMGET', key, 't', 'lo')
  local total, lo = tonumber(fields[1]) or 0, tonumber(fields[2])
  local cutoff = second - 59
  if lo == nil then return total, true end
  if lo >= cutoff then return total, false end
  if cutoff - lo > 16 then
    -- Long idle: recount what is left rather than visit every second.
    total = 0
    local all, stale = redis.call('HGETALL', key), {}
    for j = 1, #all, 2 do
      local s = tonumber(all[j])
      if s then
        if s < cutoff then stale[#stale + 1] = all[j] else total = total + tonumber(all[j + 1]) end
      end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  else
    for s = lo, cutoff - 1 do
      local c = redis.call('HGET', key, s)
      if c then
        total = total - tonumber(c)
        redis.call('HDEL', key, s)
      end
    end
  end
  redis.call('HSET', key, 't', total, 'lo', cutoff)
  return total, false
end

-- Milliseconds until enough of the oldest buckets leave the window.
local function retry_after(key, total, limit, amount)
  if amount > limit then return 60000 end
  local all, buckets = redis.call('HGETALL', key), {}
  for j = 1, #all, 2 do
    local s = tonumber(all[j])
    if s then buckets[#buckets + 1] = {s, tonumber(all[j + 1])} end
  end
  table.sort(buckets, function(a, b) return a[1] < b[1] end)
  local excess = total + amount - limit
  for _, b in ipairs(buckets) do
    excess = excess - b[2]
    -- A concurrent request stamped a moment later may have opened a
    -- bucket in the next second; the wait is never more than the window.
    if excess <= 0 then return math.min((b[1] + 60) * 1000 - now, 60000) end
  end
  return 60000
end

-- Extra units granted as a lease: at most `extra`, at most 1/divisor of
-- the headroom this request leaves, and whole requests' worth (`unit`), so
-- that no part of a request is stranded on a replica.
local function grant(extra, room, unit)
  if room <= 0 then return 0 end
  local units = math.min(tonumber(extra), math.floor(room / divisor))
  return units - units % unit
end

local used, new_window, granted, soft_reported = {}, {}, {}, {}
local n = 0
for i = 6, #ARGV, 7 do
  n = n + 1
  local kind, key, limit, amount = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  if kind == 'w' then
    local total, fresh = window_total(key)
    new_window[n] = fresh
    limit, amount = tonumber(limit), tonumber(amount)
    if total + amount > limit then
      return {0, n, retry_after(key, total, limit, amount), string.format('%d', total)}
    end
    used[n] = string.format('%d', total)
    granted[n] = grant(ARGV[i + 6], limit - total - amount, amount)
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local total = redis.call('ZCARD', key)
    if total + 1 > tonumber(limit) then
      return {0, n, 1000, string.format('%d', total)}
    end
    used[n] = string.format('%d', total)
    granted[n] = grant(ARGV[i + 6], tonumber(limit) - total - 1, 1)
  else
    local field = ARGV[i + 4]
    local fields = redis.call('HMGET', key, 'init', field, 'soft_' .. field)
    if not fields[1] then return {-1, n} end
    local current = fields[2] or '0'
    if string.sub(current, 1, 1) == '-' then current = '0' end
    soft_reported[n] = fields[3] ~= false
    if limit == '-' or not le(current, limit) then
      return {0, n, 0, current}
    end
    used[n] = current
    granted[n] = 0
  end
end

local reserved = false
n = 0
for i = 6, #ARGV, 7 do
  n = n + 1
  local kind, key, amount = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 3]
  if kind == 'w' then
    local charge = tonumber(amount) + granted[n]
    -- The expiry moves once per second, when a second's bucket starts.
    if redis.call('HINCRBY', key, second, charge) == charge then
      redis.call('PEXPIRE', key, 61000)
    end
    redis.call('HINCRBY', key, 't', charge)
    if new_window[n] then redis.call('HSET', key, 'lo', second) end
  elseif kind == 'c' then
    local ttl, slots = tonumber(ARGV[i + 5]), {}
    for s = 0, granted[n] do
      slots[#slots + 1] = now + ttl
      slots[#slots + 1] = ARGV[i + 4] .. ':' .. s
    end
    redis.call('ZADD', key, unpack(slots))
    redis.call('PEXPIRE', key, 2 * ttl)
  else
    local field, soft = ARGV[i + 4], ARGV[i + 5]
    redis.call('HINCRBY', key, field, amount)
    reserved = true
    -- Crossing the soft threshold is reported once per period.
    if soft ~= '' and not soft_reported[n] and (soft == '-' or not le(used[n], soft)) and
        redis.call('HSETNX', key, 'soft_' .. field, '1') == 1 then
      used[n] = used[n] .. '!'
    end
  end
end
if reserved then
  redis.call('HSET', KEYS[1], ARGV[2], string.format('%d', now + lease) .. '|' .. ARGV[4])
end
local reply = {1, second}
for j = 1, n do reply[#reply + 1] = used[j] end
for j = 1, n do reply[#reply + 1] = granted[j] end
return reply
