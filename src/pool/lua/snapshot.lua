-- snapshot.lua: the open pool as GET /api/v1/pool answers it, read in one
-- atomic step together with the seq it stands at, so a client that applies
-- live events with a larger seq on top of it never misses or doubles one.
--
--   KEYS  1 pool  2 seq
--   ARGV  1 job key prefix ("P:{R}:job:", same hash tag as the KEYS)
--   returns the JSON text {"seq":N,"jobs":[...]} (built here so gssd can
--   pass it through untouched)
--
-- Read-only. The job hashes are derived from the pool's members; they share
-- the region's hash tag, so this stays within one Cluster slot.
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local seq = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local out = {}
for i, id in ipairs(ids) do
  local h = redis.call('HMGET', ARGV[1] .. id, 'code', 'title', 'area', 'scheduled_at',
                       'slots_total', 'slots_taken', 'urgent', 'state')
  if h[1] then
    out[#out + 1] = cjson.encode({
      id = tonumber(id),
      code = h[1],
      title = h[2] or '',
      area = h[3] or '',
      scheduled_at = h[4] or '',
      slots_total = tonumber(h[5]) or 0,
      slots_taken = tonumber(h[6]) or 0,
      urgent = h[7] == '1',
      state = h[8] or 'open',
    })
  end
end
return '{"seq":' .. string.format('%d', seq) .. ',"jobs":[' .. table.concat(out, ',') .. ']}'
