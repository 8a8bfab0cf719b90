-- wrk script for bench/money.sh part 2: GET /api/v1/public/invoices/{token},
-- a random customer's token per request (tokens from BENCH_TOKENS, one a
-- line, written by money_client.mjs prepare). Counts the answers by status
-- in every thread and prints one line at the end:
--   public: requests=N per_s=N ok=N limited=N other=N p50=us p99=us p999=us max=us errors=N
-- ok is 200, limited 429 (the rate limit was not raised enough), other
-- anything else.
local tokens = {}
for l in io.lines(os.getenv("BENCH_TOKENS")) do
  if #l > 0 then tokens[#tokens + 1] = l end
end

local threads = {}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("seed", n)
  threads[#threads + 1] = thread
end

function init(args)
  ok, limited, other = 0, 0, 0
  math.randomseed(os.time() * 1000 + seed)
end

request = function()
  return wrk.format("GET", "/api/v1/public/invoices/" .. tokens[math.random(#tokens)])
end

response = function(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end

done = function(summary, latency, requests)
  local o, l, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); l = l + t:get("limited"); x = x + t:get("other")
  end
  local e = summary.errors
  io.write(string.format("public: requests=%d per_s=%.0f ok=%d limited=%d other=%d p50=%.0f p99=%.0f p999=%.0f max=%.0f errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), o, l, x,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect + e.read + e.write + e.timeout))
end
