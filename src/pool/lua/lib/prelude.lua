-- prelude.lua: put in front of every pool script at build time
-- (cmake/embed.cmake), so the scripts share one copy of their argument
-- checks and of the live message. Redis sees one script text per call; the
-- SHA-1 gssd sends with EVALSHA is that of prelude + script.

-- A job or technician id: canonical decimal (no sign, no leading zero), at
-- most 14 digits so cjson (14 significant digits) prints it exactly.
local function id_arg(s)
  if type(s) ~= 'string' or #s > 14 or not s:match('^[1-9]%d*$') then
    return nil
  end
  return tonumber(s)
end

-- A non-negative decimal integer of at most maxlen digits. The pattern keeps
-- out what tonumber alone would take: "0x1f", " 5", "1e3", "inf", "-1".
local function uint_arg(s, maxlen)
  if type(s) ~= 'string' or #s == 0 or #s > maxlen or not s:match('^%d+$') then
    return nil
  end
  return tonumber(s)
end

local function int_s(n)
  return string.format('%.0f', n)
end

-- Publishes one change exactly as WebSocket boards receive it: the job as
-- GET /api/v1/pool lists it, with the change's seq. released_tech, when
-- given (release.lua only), goes out as data.released_tech_id: every board
-- sees the job come back, and the technician it was taken from learns it
-- was them (their "Job Saya" drops it, with the reason).
local function announce(job_key, channel, pub_type, seq, job_id, total, taken, state, released_tech)
  local b = redis.call('HMGET', job_key, 'code', 'title', 'area', 'scheduled_at', 'urgent')
  local data = {
    id = job_id, code = b[1] or '', title = b[2] or '', area = b[3] or '',
    scheduled_at = b[4] or '', slots_total = total, slots_taken = taken,
    urgent = (b[5] == '1'), state = state,
  }
  if released_tech then
    data.released_tech_id = released_tech
  end
  redis.call('PUBLISH', channel, cjson.encode({type = pub_type, seq = seq, data = data}))
end

-- The Redis Cluster hash tag of a key: what lies between the first '{' and
-- the first '}' after it, when that is not empty; nil when there is none.
local function hash_tag(key)
  local open = key:find('{', 1, true)
  if not open then
    return nil
  end
  local close = key:find('}', open + 1, true)
  if not close or close == open + 1 then
    return nil
  end
  return key:sub(open + 1, close - 1)
end
