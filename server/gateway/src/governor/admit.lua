-- Checks every limit and budget of one request and charges them all, or
-- none: one atomic round trip. Every key shares the tenant's hash tag, so
-- this runs on one node of a Redis Cluster.
--
-- KEYS[1] reservations (zset: request id -> lease expiry ms)
-- KEYS[2] this request's reservation (hash), KEYS[3..] the checks' keys
-- ARGV[1] now (ms), ARGV[2] request id, ARGV[3] lease (ms),
-- ARGV[4] reservation details ("field=value;..."), then one group of six
-- per check: kind, key index, limit, amount, field, soft threshold.
--   w  sliding 60 s window of 1 s buckets (hash: second -> count, plus
--      t = the window's total and lo = its oldest bucket, so a check costs
--      O(1) instead of a scan of the buckets)
--   c  concurrency (zset: request id -> lease expiry ms)
--   b  budget (hash: init, t, c); limit and soft are "maximum - amount"
--      as decimal strings, compared as strings so values beyond 2^53 stay
--      exact (Lua numbers are doubles).
-- Returns {1, second, used...} | {0, check, retry_after_ms, used} | {-1, check}
-- ({-1} means a budget's counter must first be loaded from the ledger).

local now = tonumber(ARGV[1])
local second = math.floor(now / 1000)
local lease = tonumber(ARGV[3])

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

local used, new_window = {}, {}
local n = 0
for i = 5, #ARGV, 6 do
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
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local total = redis.call('ZCARD', key)
    if total + 1 > tonumber(limit) then
      return {0, n, 1000, string.format('%d', total)}
    end
    used[n] = string.format('%d', total)
  else
    if redis.call('HEXISTS', key, 'init') == 0 then return {-1, n} end
    local current = redis.call('HGET', key, ARGV[i + 4]) or '0'
    if string.sub(current, 1, 1) == '-' then current = '0' end
    if limit == '-' or not le(current, limit) then
      return {0, n, 0, current}
    end
    used[n] = current
  end
end

local reserved = false
n = 0
for i = 5, #ARGV, 6 do
  n = n + 1
  local kind, key, amount = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 3]
  if kind == 'w' then
    -- The expiry moves once per second, when a second's bucket starts.
    if redis.call('HINCRBY', key, second, amount) == tonumber(amount) then
      redis.call('PEXPIRE', key, 61000)
    end
    redis.call('HINCRBY', key, 't', amount)
    if new_window[n] then redis.call('HSET', key, 'lo', second) end
  elseif kind == 'c' then
    redis.call('ZADD', key, now + lease, ARGV[2])
    redis.call('PEXPIRE', key, lease)
  else
    local field, soft = ARGV[i + 4], ARGV[i + 5]
    redis.call('HINCRBY', key, field, amount)
    reserved = true
    -- Crossing the soft threshold is reported once per period.
    if soft ~= '' and (soft == '-' or not le(used[n], soft)) and
        redis.call('HSETNX', key, 'soft_' .. field, '1') == 1 then
      used[n] = used[n] .. '!'
    end
  end
end
if reserved then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
  redis.call('HSET', KEYS[2], 'at', ARGV[1], 'details', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], lease + 86400000)
end
local reply = {1, second}
for j = 1, n do reply[#reply + 1] = used[j] end
return reply
