-- close.lua: take a job off the board for good, because it was cancelled or
-- its work is done. Every technician holding a slot gets one job back on
-- their tech_busy allowance. One atomic step, stream entry and live message
-- included. The full contract is in README.md beside this file.
--
-- KEYS: 1 pool  2 job  3 techs  4 seq  5 events  6 slots
-- ARGV: 1 job_id  2 reason ("cancelled" | "done")  3 channel  4 now_ms
--       5 tech_key_prefix (e.g. "gss:{default}:tech:")
-- Reply: {"ok", seq} | {"err", "not_open" | "bad_args"}
--
-- The holders' keys (tech_key_prefix .. tech_id) are not in KEYS because
-- the caller cannot know who holds a slot without a round trip that a claim
-- could race. They are built here from the prefix, which must carry the
-- same hash tag as the job key, so they live in the same cluster slot.
--
-- techs and slots are kept after the close (who held which slot when the job
-- left the pool); open.lua clears them if the job is ever reopened.

-- id_arg, uint_arg, int_s, announce and hash_tag come from lib/prelude.lua.

if #KEYS ~= 6 then
  return {'err', 'bad_args'}
end
local job_id = id_arg(ARGV[1])
local reason = ARGV[2]
local channel = ARGV[3]
local now_ms = uint_arg(ARGV[4], 15)
local tech_prefix = ARGV[5]
if not job_id or (reason ~= 'cancelled' and reason ~= 'done')
    or type(channel) ~= 'string' or channel == '' or not now_ms
    or type(tech_prefix) ~= 'string' or tech_prefix == ''
    or hash_tag(tech_prefix) ~= hash_tag(KEYS[2]) then
  return {'err', 'bad_args'}
end

local job = redis.call('HMGET', KEYS[2], 'id', 'state', 'slots_total', 'slots_taken')
if job[2] ~= 'open' and job[2] ~= 'full' then
  return {'err', 'not_open'}
end
if job[1] ~= ARGV[1] then
  return {'err', 'bad_args'}
end

for _, tid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local tkey = tech_prefix .. tid
  if redis.call('HINCRBY', tkey, 'active', -1) < 0 then
    redis.call('HSET', tkey, 'active', '0')
  end
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'closed', 'reason', reason)
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)

local total = tonumber(job[3]) or 0
local taken = tonumber(job[4]) or 0
local seq = redis.call('INCR', KEYS[4])
-- No MAXLEN: only the persister trims the stream, and only below what its
-- consumer group has acknowledged (trim.lua).
redis.call('XADD', KEYS[5], '*',
  'seq', int_s(seq), 'type', 'closed', 'job', ARGV[1], 'tech', '', 'slot', '0',
  'slots_total', int_s(total), 'slots_taken', int_s(taken), 'state', 'closed',
  'version', int_s(version), 'at', int_s(now_ms), 'reason', reason)

announce(KEYS[2], channel, 'pool.closed', seq, job_id, total, taken, 'closed')
return {'ok', seq}
