-- release.lua: "Cari Pengganti". CS frees the slot of a technician who did
-- not show up: the technician loses the slot and may not claim this job
-- again, and the job goes back on the board, urgent (top of the pool). One
-- atomic step, stream entry and live message included. The full contract is
-- in README.md beside this file.
--
-- KEYS: 1 pool  2 job  3 techs  4 banned  5 tech  6 seq  7 events  8 slots
--       (the same keys as claim.lua)
-- ARGV: 1 job_id  2 tech_id  3 channel  4 now_ms
-- Reply: {"ok", slot, seq}
--      | {"err", "not_open" | "not_assigned" | "inconsistent" | "bad_args"}

-- id_arg, uint_arg, int_s and announce come from lib/prelude.lua.

if #KEYS ~= 8 then
  return {'err', 'bad_args'}
end
local job_id = id_arg(ARGV[1])
local tech_id = id_arg(ARGV[2])
local channel = ARGV[3]
local now_ms = uint_arg(ARGV[4], 15)
if not job_id or not tech_id or type(channel) ~= 'string' or channel == ''
    or not now_ms then
  return {'err', 'bad_args'}
end

local job = redis.call('HMGET', KEYS[2], 'id', 'state', 'sched_ms', 'slots_total')
if job[2] ~= 'open' and job[2] ~= 'full' then
  return {'err', 'not_open'}
end
if job[1] ~= ARGV[1] then
  return {'err', 'bad_args'}
end
local total = tonumber(job[4]) or 0
-- A holder is in techs AND has a slot number in 1..slots_total in slots;
-- claim.lua and rebuild_job.lua only ever write both together. If the two
-- disagree about this technician, Redis has lost part of the record: a
-- release then could neither say which slot it frees (the persister's
-- assignments row needs one, CHECK slot >= 1) nor leave the job sound, so
-- it refuses and changes nothing. `gssd check` reports the job and
-- `gssd rebuild-pool --repair` rewrites it from PostgreSQL.
local holds = redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1
local slot_s = redis.call('HGET', KEYS[8], ARGV[2])
if not holds and not slot_s then
  return {'err', 'not_assigned'}
end
local slot = slot_s and uint_arg(slot_s, 2)
if not holds or not slot or slot < 1 or slot > total then
  return {'err', 'inconsistent'}
end
local was_full = (job[2] == 'full')

redis.call('SREM', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[8], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
if redis.call('HINCRBY', KEYS[5], 'active', -1) < 0 then
  redis.call('HSET', KEYS[5], 'active', '0')
end
local taken = redis.call('HINCRBY', KEYS[2], 'slots_taken', -1)
if taken < 0 then
  taken = 0
  redis.call('HSET', KEYS[2], 'slots_taken', '0')
end
redis.call('HSET', KEYS[2], 'state', 'open', 'urgent', '1')
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
-- Urgent band: the score is the scheduled time alone (see open.lua).
redis.call('ZADD', KEYS[1], int_s(tonumber(job[3]) or 0), ARGV[1])

local seq = redis.call('INCR', KEYS[6])
-- No MAXLEN: only the persister trims the stream, and only below what its
-- consumer group has acknowledged (trim.lua).
redis.call('XADD', KEYS[7], '*',
  'seq', int_s(seq), 'type', 'released', 'job', ARGV[1], 'tech', ARGV[2],
  'slot', int_s(slot), 'slots_total', int_s(total), 'slots_taken', int_s(taken),
  'state', 'open', 'version', int_s(version), 'at', int_s(now_ms))

-- A full job had left the board, so for boards it is new again; an open one
-- only changed (fewer slots taken, now urgent).
local pub_type = 'pool.updated'
if was_full then
  pub_type = 'pool.opened'
end
-- The message names the released technician (data.released_tech_id), so
-- their own board can say why the job left "Job Saya".
announce(KEYS[2], channel, pub_type, seq, job_id, total, taken, 'open', tech_id)
return {'ok', slot, seq}
