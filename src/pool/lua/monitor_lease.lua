-- monitor_lease.lua: the visit scanner's lease (docs/monitor.md). Only one
-- gssd of the cluster scans: the one whose id the key holds.
--
-- KEYS: 1 lease (P:monitor:lease)
-- ARGV: 1 holder id  2 mode: "take" (extend it when ours, else take it if
--       free) or "drop" (delete it, only when ours)  3 lifetime ms (take)
-- Reply: take: 2 taken now (the caller needs a new fencing token), 1 still
--        ours and extended, 0 another holder has it; drop: 1 dropped, 0 not ours

if #KEYS ~= 1 or type(ARGV[1]) ~= 'string' or ARGV[1] == '' then
  return redis.error_reply('bad_args')
end
local holder = redis.call('GET', KEYS[1])
if ARGV[2] == 'drop' then
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
local px = uint_arg(ARGV[3], 10)
if ARGV[2] ~= 'take' or not px or px == 0 then
  return redis.error_reply('bad_args')
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], px)
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', px)
return 2
