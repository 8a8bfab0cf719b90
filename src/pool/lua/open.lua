-- open.lua: put a job on the board (a new ticket, or a closed one reopened).
-- One atomic step: create the job hash, ZADD it to the pool, bump seq, XADD
-- one stream entry and PUBLISH one pool.opened message. The full contract
-- (keys, arguments, replies, event formats) is in README.md beside this file.
--
-- KEYS: 1 pool  2 job  3 techs  4 banned  5 seq  6 events  7 slots
-- ARGV: 1 id  2 slots_total  3 code  4 title  5 area  6 scheduled_at
--       7 sched_ms  8 urgent  9 channel  10 now_ms
-- Reply: {"ok", seq} | {"err", "exists"} | {"err", "bad_args"}

-- Non-urgent scores sit above every urgent one; sched_ms has at most 13
-- digits, so the two bands never overlap and every score is an exact double.
local NORMAL_BAND = 1e13

-- id_arg, uint_arg, int_s and announce come from lib/prelude.lua.

if #KEYS ~= 7 then
  return {'err', 'bad_args'}
end
local job_id = id_arg(ARGV[1])
local slots_total = uint_arg(ARGV[2], 2)
local code, title, area, scheduled_at = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local sched_ms = uint_arg(ARGV[7], 13)
local urgent = ARGV[8]
local channel = ARGV[9]
local now_ms = uint_arg(ARGV[10], 15)
if not job_id or not slots_total or slots_total < 1 or slots_total > 10
    or type(code) ~= 'string' or type(title) ~= 'string'
    or type(area) ~= 'string' or type(scheduled_at) ~= 'string'
    or not sched_ms or (urgent ~= '0' and urgent ~= '1')
    or type(channel) ~= 'string' or channel == '' or not now_ms then
  return {'err', 'bad_args'}
end

local prev = redis.call('HMGET', KEYS[2], 'state', 'version')
if prev[1] == 'open' or prev[1] == 'full' then
  return {'err', 'exists'}
end
-- A reopened job continues its version so that readers comparing versions
-- (persister, boards) never see one go backwards.
local version = 1
if prev[1] then
  version = (tonumber(prev[2]) or 0) + 1
end

-- Whatever a previous life left (holders, slot numbers, bans, close reason)
-- does not carry over.
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[7])
redis.call('HSET', KEYS[2],
  'id', ARGV[1], 'code', code, 'title', title, 'area', area,
  'scheduled_at', scheduled_at, 'sched_ms', int_s(sched_ms),
  'urgent', urgent, 'slots_total', int_s(slots_total), 'slots_taken', '0',
  'state', 'open', 'version', int_s(version))

local score = sched_ms
if urgent == '0' then
  score = NORMAL_BAND + sched_ms
end
redis.call('ZADD', KEYS[1], int_s(score), ARGV[1])

local seq = redis.call('INCR', KEYS[5])
-- No MAXLEN: only the persister trims the stream, and only below what its
-- consumer group has acknowledged (trim.lua).
redis.call('XADD', KEYS[6], '*',
  'seq', int_s(seq), 'type', 'opened', 'job', ARGV[1], 'tech', '', 'slot', '0',
  'slots_total', int_s(slots_total), 'slots_taken', '0', 'state', 'open',
  'version', int_s(version), 'at', int_s(now_ms))
announce(KEYS[2], channel, 'pool.opened', seq, job_id, slots_total, 0, 'open')
return {'ok', seq}
