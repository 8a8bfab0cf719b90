-- wrk script for the claim storm: every request is POST /api/v1/pool/{id}/claim
-- by a random technician (Bearer token) on a random job. Tokens and job ids
-- come from files written by claim_storm.sh.
local tokens, jobs = {}, {}
local function lines(path, out)
  for l in io.lines(path) do if #l > 0 then out[#out + 1] = l end end
end
lines(os.getenv("BENCH_TOKENS"), tokens)
lines(os.getenv("BENCH_JOBS"), jobs)
math.randomseed(os.time())

request = function()
  local t = tokens[math.random(#tokens)]
  local j = jobs[math.random(#jobs)]
  return wrk.format("POST", "/api/v1/pool/" .. j .. "/claim",
                    { ["Authorization"] = "Bearer " .. t, ["Content-Length"] = "0" })
end

done = function(summary, latency, requests)
  io.write(string.format("claims: %d in %.2fs = %.0f/s; errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
  io.write(string.format("latency: p50 %.0fus p99 %.0fus p999 %.0fus max %.0fus\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
