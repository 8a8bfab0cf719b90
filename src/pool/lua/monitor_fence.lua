-- monitor_fence.lua: raises the scanner's fencing counter to at least a
-- token PostgreSQL holds (monitor_lease.fence). Needed when Redis lost the
-- counter (restarted without its data): INCR would start again below the
-- token in PostgreSQL and every scanner would be fenced out for good. Never
-- lowers it, so tokens stay unique.
--
-- KEYS: 1 fence (P:monitor:fence)
-- ARGV: 1 the token PostgreSQL holds
-- Reply: the counter afterwards

local want = uint_arg(ARGV[1], 18)
if #KEYS ~= 1 or not want then
  return redis.error_reply('bad_args')
end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur < want then
  redis.call('SET', KEYS[1], int_s(want))
  return want
end
return cur
