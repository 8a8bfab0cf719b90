-- monitor_publish.lua: one monitor.* event for CS screens (docs/monitor.md).
-- Takes the next monitor seq and publishes the event with it in the same
-- atomic step, so events reach subscribers in seq order and no seq is
-- taken without its message going out.
--
-- KEYS: 1 seq (P:monitor:seq)
-- ARGV: 1 channel (P:monitor)  2 type ("monitor.late", ...)  3 data, a JSON
--       object as text (gssd built it; passed through untouched)
-- Reply: seq

if #KEYS ~= 1 or type(ARGV[1]) ~= 'string' or ARGV[1] == ''
    or type(ARGV[2]) ~= 'string' or not ARGV[2]:match('^monitor%.[a-z_]+$')
    or type(ARGV[3]) ~= 'string' or ARGV[3]:sub(1, 1) ~= '{' then
  return redis.error_reply('bad_args')
end
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1],
  '{"type":"' .. ARGV[2] .. '","seq":' .. int_s(seq) .. ',"data":' .. ARGV[3] .. '}')
return seq
