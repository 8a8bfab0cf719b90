-- claim.lua: a technician takes one slot of an open job, first come first
-- served. One atomic step: every check, the slot, the counters, leaving the
-- pool when the last slot goes, the stream entry and the live message. The
-- full contract is in README.md beside this file.
--
-- KEYS: 1 pool  2 job  3 techs  4 banned  5 tech  6 seq  7 events  8 slots
-- ARGV: 1 job_id  2 tech_id  3 max_active  4 channel  5 now_ms
-- Reply: {"ok", slot, seq, slots_taken, slots_total}
--      | {"err", "not_open" | "already_claimed" | "banned" | "job_full"
--               | "tech_busy" | "bad_args"}

-- id_arg, uint_arg, int_s and announce come from lib/prelude.lua.

if #KEYS ~= 8 then
  return {'err', 'bad_args'}
end
local job_id = id_arg(ARGV[1])
local tech_id = id_arg(ARGV[2])
local max_active = uint_arg(ARGV[3], 9)
local channel = ARGV[4]
local now_ms = uint_arg(ARGV[5], 15)
if not job_id or not tech_id or not max_active or max_active < 1
    or type(channel) ~= 'string' or channel == '' or not now_ms then
  return {'err', 'bad_args'}
end

local job = redis.call('HMGET', KEYS[2], 'id', 'state', 'slots_total', 'slots_taken')
if job[2] ~= 'open' and job[2] ~= 'full' then
  return {'err', 'not_open'}
end
-- KEYS[2] names a different job than ARGV[1]: a caller bug, never a race.
if job[1] ~= ARGV[1] then
  return {'err', 'bad_args'}
end
-- A number in slots without the techs entry (a record Redis half lost)
-- counts as holding too: a second claim would give this technician two.
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 or redis.call('HEXISTS', KEYS[8], ARGV[2]) == 1 then
  return {'err', 'already_claimed'}
end
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
  return {'err', 'banned'}
end
local total = tonumber(job[3]) or 0
local taken = tonumber(job[4]) or 0
if job[2] == 'full' or taken >= total then
  return {'err', 'job_full'}
end
local active = tonumber(redis.call('HGET', KEYS[5], 'active') or '0') or 0
if active >= max_active then
  return {'err', 'tech_busy'}
end

-- The lowest slot number nobody holds, so that a slot freed by a release is
-- handed to the replacement. total is at most 10.
local used = {}
for _, s in ipairs(redis.call('HVALS', KEYS[8])) do
  used[tonumber(s) or 0] = true
end
local slot = nil
for i = 1, total do
  if not used[i] then
    slot = i
    break
  end
end
if not slot then
  -- slots_taken said there was room but every number is held: the hash and
  -- the counter disagree. Refuse rather than hand out a slot twice.
  return {'err', 'job_full'}
end

redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[8], ARGV[2], int_s(slot))
taken = redis.call('HINCRBY', KEYS[2], 'slots_taken', 1)
redis.call('HINCRBY', KEYS[5], 'active', 1)
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
local state = 'open'
if taken >= total then
  state = 'full'
  redis.call('HSET', KEYS[2], 'state', state)
  redis.call('ZREM', KEYS[1], ARGV[1])
end

local seq = redis.call('INCR', KEYS[6])
-- No MAXLEN: only the persister trims the stream, and only below what its
-- consumer group has acknowledged (trim.lua).
redis.call('XADD', KEYS[7], '*',
  'seq', int_s(seq), 'type', 'claimed', 'job', ARGV[1], 'tech', ARGV[2],
  'slot', int_s(slot), 'slots_total', int_s(total), 'slots_taken', int_s(taken),
  'state', state, 'version', int_s(version), 'at', int_s(now_ms))

local pub_type = 'pool.updated'
if state == 'full' then
  pub_type = 'pool.closed'
end
announce(KEYS[2], channel, pub_type, seq, job_id, total, taken, state)
return {'ok', slot, seq, taken, total}
