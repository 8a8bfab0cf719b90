-- trim.lua: how far the persister is behind on the events stream, and the
-- only trimming the stream ever gets. One atomic step, so what it measures
-- and what it trims are the same moment of the stream. The full contract is
-- in README.md beside this file.
--
-- KEYS: 1 events
-- ARGV: 1 group (the persister's, "persist")  2 trim ("1": trim, "0": only measure)
-- Reply: {pending, undelivered, oldest_id, now_ms, trimmed, length}
--
-- The scripts that append to the stream carry no MAXLEN: a length bound
-- drops the oldest entries whether or not they were applied, and those are
-- exactly the ones a stuck persister still needs. Here an entry goes only
-- once EVERY consumer group of the stream is past it: it is below the
-- group's oldest pending (delivered, not acknowledged) entry, and at or
-- below its last-delivered id. A stream without a group is never trimmed
-- (the persister creates its group from the start of the stream, so every
-- entry there is still to be applied).

-- id_arg, uint_arg, int_s and announce come from lib/prelude.lua.

if #KEYS ~= 1 or type(ARGV[1]) ~= 'string' or ARGV[1] == ''
    or (ARGV[2] ~= '0' and ARGV[2] ~= '1') then
  return redis.error_reply('trim.lua: bad arguments')
end
local group = ARGV[1]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 0, '', now_ms, 0, 0}
end

-- Stream ids "ms-seq" compared exactly: both parts are decimal strings of
-- up to 20 digits, beyond what a Lua number holds exactly.
local function parts(id)
  local ms, sq = id:match('^(%d+)%-(%d+)$')
  return ms or '0', sq or '0'
end
local function dec_lt(a, b)
  if #a ~= #b then
    return #a < #b
  end
  return a < b
end
local function id_lt(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  if am ~= bm then
    return dec_lt(am, bm)
  end
  return dec_lt(as, bs)
end

-- XINFO GROUPS: one flat field/value array per group.
local function fields(flat)
  local f = {}
  for i = 1, #flat, 2 do
    f[flat[i]] = flat[i + 1]
  end
  return f
end

local pending, undelivered, oldest = 0, 0, ''
local found = false
local bound = nil -- the lowest id some group still needs
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = fields(g)
  local last = f['last-delivered-id'] or '0-0'
  local summary = redis.call('XPENDING', KEYS[1], f['name'])
  local need = last
  if summary[1] > 0 then
    need = summary[2]
  end
  if bound == nil or id_lt(need, bound) then
    bound = need
  end
  if f['name'] == group then
    found = true
    pending = summary[1]
    -- Redis 7 counts the entries after last-delivered-id (lag); when it
    -- cannot (an entry deleted in between, a group set to an arbitrary id)
    -- they are counted here, up to 10000 (then the figure is "at least").
    if type(f['lag']) == 'number' then
      undelivered = f['lag']
    else
      undelivered = #redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 10000)
    end
    if pending > 0 then
      oldest = summary[2]
    else
      local after = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)
      if #after > 0 then
        oldest = after[1][1]
      end
    end
  end
end

if not found then
  -- No group yet: it will start from the first entry, so all of them wait.
  undelivered = redis.call('XLEN', KEYS[1])
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first > 0 then
    oldest = first[1][1]
  end
end

local trimmed = 0
if ARGV[2] == '1' and bound ~= nil then
  -- MINID removes the entries below bound; '~' lets Redis stop at a node
  -- boundary, so it may keep some more, never fewer.
  trimmed = redis.call('XTRIM', KEYS[1], 'MINID', '~', bound)
end
return {pending, undelivered, oldest, now_ms, trimmed, redis.call('XLEN', KEYS[1])}
