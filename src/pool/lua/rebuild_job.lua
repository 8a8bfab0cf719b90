-- rebuild_job.lua: `gssd rebuild-pool` writes one job back from PostgreSQL,
-- but only if Redis has not moved since the caller looked. One atomic step.
-- The full contract (and why this can never hand a slot out twice) is in
-- README.md beside this file.
--
-- KEYS: 1 pool  2 job  3 techs  4 banned  5 slots
-- ARGV: 1 id  2 expect ("": the job hash must not exist; else the job's
--       version must still be this)  3 code  4 title  5 area
--       6 scheduled_at  7 sched_ms  8 urgent (0|1)  9 slots_total (1..10)
--       10 holders ("tid:slot,tid:slot" or "")  11 banned ("tid,tid" or "")
--       12 tech_key_prefix ("P:{R}:tech:", same hash tag as the job key)
-- Reply: {"ok", version} | {"err", "changed" | "bad_args"}
--
-- No stream entry (PostgreSQL is where the data came from) and no live
-- message: the caller tells boards to resync once, at the end.

local NORMAL_BAND = 1e13

-- id_arg, uint_arg, int_s, announce and hash_tag come from lib/prelude.lua.

if #KEYS ~= 5 then
  return {'err', 'bad_args'}
end
local job_id = id_arg(ARGV[1])
local expect = ARGV[2]
local code, title, area, scheduled_at = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local sched_ms = uint_arg(ARGV[7], 13)
local urgent = ARGV[8]
local total = uint_arg(ARGV[9], 2)
local tech_prefix = ARGV[12]
if not job_id or type(expect) ~= 'string' or (expect ~= '' and not uint_arg(expect, 15))
    or type(code) ~= 'string' or type(title) ~= 'string' or type(area) ~= 'string'
    or type(scheduled_at) ~= 'string' or not sched_ms or (urgent ~= '0' and urgent ~= '1')
    or not total or total < 1 or total > 10
    or type(ARGV[10]) ~= 'string' or type(ARGV[11]) ~= 'string'
    or type(tech_prefix) ~= 'string' or tech_prefix == ''
    or hash_tag(tech_prefix) ~= hash_tag(KEYS[2]) then
  return {'err', 'bad_args'}
end

-- Holders: distinct technicians on distinct slots in 1..total.
local holders, order, used = {}, {}, {}
for tid, s in ARGV[10]:gmatch('([^:,]+):([^,]+)') do
  local slot = uint_arg(s, 2)
  if not id_arg(tid) or not slot or slot < 1 or slot > total or used[slot] or holders[tid] then
    return {'err', 'bad_args'}
  end
  used[slot] = true
  holders[tid] = slot
  order[#order + 1] = tid
end
local banned = {}
for tid in ARGV[11]:gmatch('[^,]+') do
  if not id_arg(tid) then
    return {'err', 'bad_args'}
  end
  banned[#banned + 1] = tid
end

-- The guard: what the caller saw is still what Redis has.
local cur = redis.call('HMGET', KEYS[2], 'id', 'version', 'state')
local version
if expect == '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    return {'err', 'changed'}
  end
  version = 1
else
  if cur[1] ~= ARGV[1] or cur[2] ~= expect then
    return {'err', 'changed'}
  end
  version = tonumber(expect) + 1
  -- A repair changes who holds the job: their active counts follow, as a
  -- claim or a release would have moved them. (A job created from nothing
  -- leaves the counts alone: they survived with the technicians' keys, or
  -- the caller restores lost ones from PostgreSQL.)
  -- Who counted the job before: anyone in techs or in slots (claim.lua
  -- writes both with the count, so a record half lost still counted). The
  -- techs of a closed job are history: close.lua gave their counts back.
  local before = {}
  if cur[3] == 'open' or cur[3] == 'full' then
    for _, list in ipairs({redis.call('SMEMBERS', KEYS[3]), redis.call('HKEYS', KEYS[5])}) do
      for _, tid in ipairs(list) do
        if not before[tid] then
          before[tid] = true
          if not holders[tid] and redis.call('HINCRBY', tech_prefix .. tid, 'active', -1) < 0 then
            redis.call('HSET', tech_prefix .. tid, 'active', '0')
          end
        end
      end
    end
  end
  for _, tid in ipairs(order) do
    if not before[tid] then
      redis.call('HINCRBY', tech_prefix .. tid, 'active', 1)
    end
  end
end

local taken = #order
local state = 'open'
if taken >= total then
  state = 'full'
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[2],
  'id', ARGV[1], 'code', code, 'title', title, 'area', area,
  'scheduled_at', scheduled_at, 'sched_ms', int_s(sched_ms),
  'urgent', urgent, 'slots_total', int_s(total), 'slots_taken', int_s(taken),
  'state', state, 'version', int_s(version))
for _, tid in ipairs(order) do
  redis.call('SADD', KEYS[3], tid)
  redis.call('HSET', KEYS[5], tid, int_s(holders[tid]))
end
for _, tid in ipairs(banned) do
  redis.call('SADD', KEYS[4], tid)
end
if state == 'open' then
  local score = sched_ms
  if urgent == '0' then
    score = NORMAL_BAND + sched_ms
  end
  redis.call('ZADD', KEYS[1], int_s(score), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return {'ok', version}
