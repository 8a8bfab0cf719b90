#!/usr/bin/env bash
# Uploads and letters against the rest of the traffic, in one run:
#
#  1. memory: gssd's RSS growth during BENCH_UPLOADS concurrent uploads of
#     BENCH_UPLOAD_MIB MiB each (POST /api/v1/tickets/{id}/attachments,
#     streamed to disk; goal: at most 16 MiB over idle for 20 x 10 MiB);
#     every answer must be 201 with the file's sha256;
#  2. latency, quiet: /healthz and claims (POST /api/v1/pool/{id}/claim by a
#     random technician on a random job, as bench/claim.lua), p50/p99 by wrk;
#  3. latency, loaded: the same two while BENCH_UPLOADS uploads and
#     BENCH_LETTERS letter renders (distinct tickets, so the letter cache
#     never answers) run without pause (goal: p99 at most 2x quiet);
#  4. letters rendered per second by N concurrent clients (bench/render_load.sh).
# Then a summary table.
#
# Latency is measured paced, not at saturation: wrk -t1 -c$BENCH_LAT_CONNS,
# and each connection waits BENCH_LAT_DELAY_MS between requests (wrk's
# delay()), so p99 is what a request meets, not the length of wrk's own
# queue. gssd's CPU share per phase is printed with it: on a 2-core machine
# the renders, the uploads' client and PostgreSQL compete with gssd and wrk
# for the same cores, and the load average is printed too.
#
# Set-up (not measured), shared with bench/render_load.sh (sourced): private
# Redis (AOF everysec) and PostgreSQL (fsync off), BENCH_TECHS technicians,
# BENCH_JOBS jobs on the board (`gssd rebuild-pool`), one login per
# technician; an "uploader" technician assigned to one ticket; tickets with
# technicians for the letters; uploads land in the temp folder (on disk, with
# gssd's fsync).
#
# Usage: bench/uploads.sh [build dir]          (loopback only)
#   BENCH_DURATION 10s, BENCH_UPLOADS 20, BENCH_UPLOAD_MIB 10, BENCH_LETTERS 20,
#   BENCH_LAT_CONNS 8, BENCH_LAT_DELAY_MS 5, BENCH_TECHS 500, BENCH_JOBS 1000,
#   BENCH_LETTER_CLIENTS "1 2 4 8 20", BENCH_LETTER_COUNT 200,
#   BENCH_LOAD_UPLOADS (uploads in phase 3; default BENCH_UPLOADS; 0 and
#   BENCH_LETTERS=0 tell the two loads apart),
#   BENCH_NO_BUILD=1: use the build dir's gssd without building,
#   BENCH_PERF=file: perf record of gssd during phase 3 (perf report -i file)
set -euo pipefail
# shellcheck source=bench/render_load.sh
source "$(dirname "${BASH_SOURCE[0]}")/render_load.sh"

dur=${BENCH_DURATION:-10s}
nup=${BENCH_UPLOADS:-20}
upmib=${BENCH_UPLOAD_MIB:-10}
nlet=${BENCH_LETTERS:-20}
nup_load=${BENCH_LOAD_UPLOADS:-$nup}
lat_conns=${BENCH_LAT_CONNS:-8}
lat_delay=${BENCH_LAT_DELAY_MS:-5}
techs=${BENCH_TECHS:-500}
njobs=${BENCH_JOBS:-1000}
letter_clients=${BENCH_LETTER_CLIENTS:-1 2 4 8 20}
letter_count=${BENCH_LETTER_COUNT:-200}
dur_s=${dur%s}
# Distinct tickets for the letters: the loaded phase (two wrk runs at up to
# ~150 letters/s on 2 cores) plus the sweep; an exhausted list is reported.
nletter_tickets=${BENCH_LETTER_TICKETS:-$(( (2 * dur_s + 5) * 200 + letter_count * $(wc -w <<<"$letter_clients") ))}

bench_init "${1:-}"
bench_stores_up
bench_users "$techs"
psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed)
  SELECT 'GSS-BENCH-' || g, (SELECT min(id) FROM customers), 'Bench job ' || g, 'Jl. Bench ' || g, 'Jakarta',
         now() + (g || ' minutes')::interval, 1 + (g * 7919) % 5
  FROM generate_series(1, $njobs) g;
SQL
"$build/gssd" rebuild-pool >/dev/null
psql -qAt "$GSS_DATABASE_URL" -c "SELECT id FROM tickets WHERE code LIKE 'GSS-BENCH-%'" > "$tmp/jobs"
# The uploads' ticket: in progress, the uploader holding its one slot (made
# after the board, so it is no job on it).
upload_ticket=$(psql -qAt "$GSS_DATABASE_URL" <<SQL
WITH t AS (
  INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed, status)
  VALUES ('GSS-UPLOAD-1', (SELECT min(id) FROM customers), 'Bench uploads', 'Jl. Upload 1', 'Jakarta',
          now() + interval '1 hour', 1, 'in_progress')
  RETURNING id)
INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at)
  SELECT t.id, u.id, 1, now() FROM t, users u WHERE u.username = 'uploader'
  RETURNING ticket_id;
SQL
)
bench_letter_tickets "$nletter_tickets" "$techs"

bench_gssd_start
seq 1 "$techs" | xargs -P 16 -I{} curl -sf -XPOST "http://$GSS_LISTEN/api/v1/auth/login" \
  -H 'Content-Type: application/json' -d '{"username":"tech{}","password":"bench-password"}' \
  | grep -o '"token":"[^"]*"' | cut -d'"' -f4 > "$tmp/tokens"
cs_token=$(bench_login bench-cs)
up_token=$(bench_login uploader)
bench_client
echo "set-up: $(wc -l < "$tmp/tokens") technicians logged in, $(wc -l < "$tmp/jobs") jobs on the board," \
  "$(wc -l < "$tmp/letter_ids") tickets for letters, upload ticket $upload_ticket"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# wrk scripts: paced requests and one result line.
cat > "$tmp/report.lua" <<'LUA'
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pace > 0 then delay = function() return pace end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk: requests=%d per_s=%.0f p50=%.0f p99=%.0f p999=%.0f max=%.0f errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.connect + e.read + e.write + e.timeout))
end
LUA
cat > "$tmp/claims.lua" <<'LUA'
-- bench/claim.lua's requests (a random technician claims a random job), paced.
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
LUA
cat "$tmp/report.lua" >> "$tmp/claims.lua"

# lat NAME SCRIPT PATH: one paced wrk run; its line goes to $tmp/NAME.wrk.
# gssd_cpu is gssd's share of one core (all its threads); machine_busy the
# busy share of all the machine's cores, whoever used them.
lat() {
  local c0 c1 m0 m1
  c0=$(cpu_s "$gpid"); m0=$(cpu_ticks)
  BENCH_DELAY_MS=$lat_delay BENCH_TOKENS=$tmp/tokens BENCH_JOBS=$tmp/jobs \
    wrk -t1 -c"$lat_conns" -d"$dur" -s "$2" "http://$GSS_LISTEN$3" | grep '^wrk:' > "$tmp/$1.wrk"
  c1=$(cpu_s "$gpid"); m1=$(cpu_ticks)
  # shellcheck disable=SC2086 # two numbers each
  echo "$(cat "$tmp/$1.wrk") gssd_cpu=$(awk -v a="$c0" -v b="$c1" -v d="$dur_s" 'BEGIN {printf "%.0f%%", 100 * (b - a) / d}')" \
    "machine_busy=$(busy_pct $m0 $m1)" > "$tmp/$1.wrk"
  echo "  $1: $(cut -d' ' -f2- "$tmp/$1.wrk")"
}
us_to_ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u / 1000}'; }

# A warm-up upload and letter, so the baseline has the one-time allocations
# (fonts, PostgreSQL connections, the upload folders).
BENCH_URL="http://$GSS_LISTEN" BENCH_TOKEN=$up_token BENCH_TICKET=$upload_ticket \
  node "$tmp/client.mjs" uploads 1 1 once >/dev/null
bench_letters 1 1
sleep 1

echo "== 1. $nup concurrent uploads of $upmib MiB"
rss0=$(rss_kib "$gpid")
hwm_reset "$gpid"
c0=$(cpu_s "$gpid")
up_line=$(BENCH_URL="http://$GSS_LISTEN" BENCH_TOKEN=$up_token BENCH_TICKET=$upload_ticket \
  node "$tmp/client.mjs" uploads "$nup" "$upmib" once)
c1=$(cpu_s "$gpid")
hwm=$(hwm_kib "$gpid")
up_growth=$(( hwm - rss0 ))
echo "  $up_line"
echo "  gssd RSS idle $(mib_of_kib "$rss0") MiB, peak $(mib_of_kib "$hwm") MiB: +$(mib_of_kib "$up_growth") MiB;" \
  "gssd CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}') s"

echo "== 2. quiet (wrk -t1 -c$lat_conns, ${lat_delay} ms between requests per connection, $dur)"
lat healthz_quiet "$tmp/report.lua" /healthz
lat claims_quiet "$tmp/claims.lua" ""

echo "== 3. loaded: $nup_load uploads and $nlet letter renders running all along"
stop=$tmp/stop
rm -f "$stop"
BENCH_URL="http://$GSS_LISTEN" BENCH_TOKEN=$up_token BENCH_TICKET=$upload_ticket BENCH_STOP=$stop \
  node "$tmp/client.mjs" uploads "$nup_load" "$upmib" loop > "$tmp/up_loop.out" &
up_pid=$!
BENCH_URL="http://$GSS_LISTEN" BENCH_TOKEN=$cs_token BENCH_STOP=$stop BENCH_IDS_FROM=$bench_letters_next \
  node "$tmp/client.mjs" letters "$nlet" "$tmp/letter_ids" loop > "$tmp/let_loop.out" &
let_pid=$!
bench_bg_pids="$up_pid $let_pid"
load_t0=$(date +%s.%N)
sleep 2
if [ -n "${BENCH_PERF:-}" ]; then
  perf record -F 999 -g -o "$BENCH_PERF" -p "$gpid" 2>/dev/null &
  perf_pid=$!
fi
lat healthz_loaded "$tmp/report.lua" /healthz
lat claims_loaded "$tmp/claims.lua" ""
load_mid=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
touch "$stop"
wait "$up_pid" "$let_pid" || true
bench_bg_pids=""
load_s=$(awk -v s="$load_t0" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
up_loop=$(cat "$tmp/up_loop.out")
let_loop=$(cat "$tmp/let_loop.out")
bench_letters_next=$(kv next "$let_loop")
echo "  background over $load_s s: uploads $up_loop"
echo "  background over $load_s s: letters $let_loop"
if [ "$(kv exhausted "$let_loop")" = 1 ]; then echo "  (the letters ran out of distinct tickets: raise BENCH_LETTER_TICKETS)"; fi
echo "  load average during: $load_mid"

echo "== 4. letters rendered per second ($letter_count distinct tickets per row)"
bench_letters_sweep "$letter_clients" "$letter_count" | tee "$tmp/sweep.out" | sed 's/^/  /'

# ---- summary -----------------------------------------------------------------
p99() { kv p99 "$(cat "$tmp/$1.wrk")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", (a > 0 ? b / a : 0)}'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN {print (r + 0 <= g ? "ok" : "MISSED")}'; }
hq=$(p99 healthz_quiet); hl=$(p99 healthz_loaded); cq=$(p99 claims_quiet); cl=$(p99 claims_loaded)
echo
echo "== summary ($(nproc) cores; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-44s %14s %14s %8s\n' measure value goal verdict
printf '%-44s %14s %14s %8s\n' "RSS growth, $nup x $upmib MiB uploads" "$(mib_of_kib "$up_growth") MiB" "<= 16 MiB" \
  "$(verdict "$(mib_of_kib "$up_growth")" 16)"
printf '%-44s %14s %14s %8s\n' "uploads: all 201, sha256 right" "$(kv ok "$up_line")/$nup ok" "$nup/$nup" \
  "$([ "$(kv ok "$up_line")" = "$nup" ] && echo ok || echo MISSED)"
printf '%-44s %14s %14s %8s\n' "upload throughput (one burst)" "$(kv mib_s "$up_line") MiB/s" "" ""
r=$(ratio "$hq" "$hl")
printf '%-44s %14s %14s %8s\n' "/healthz p99 quiet -> loaded" "$(us_to_ms "$hq") -> $(us_to_ms "$hl") ms" "<= 2x ($r)" "$(verdict "${r%x}" 2)"
r=$(ratio "$cq" "$cl")
printf '%-44s %14s %14s %8s\n' "claim p99 quiet -> loaded" "$(us_to_ms "$cq") -> $(us_to_ms "$cl") ms" "<= 2x ($r)" "$(verdict "${r%x}" 2)"
printf '%-44s %14s %14s %8s\n' "uploads while loaded ($nup_load clients)" "$(kv mib_s "$up_loop") MiB/s" "" ""
printf '%-44s %14s %14s %8s\n' "letters/s while loaded ($nlet clients)" "$(kv per_s "$let_loop")/s" "" ""
printf '%-44s %14s %14s %8s\n' "machine busy, healthz quiet -> loaded" \
  "$(kv machine_busy "$(cat "$tmp/healthz_quiet.wrk")") -> $(kv machine_busy "$(cat "$tmp/healthz_loaded.wrk")")" "" ""
while read -r n per _; do
  [[ $n =~ ^[0-9]+$ ]] || continue
  printf '%-44s %14s %14s %8s\n' "letters/s, $n concurrent clients" "$per/s" "" ""
done < "$tmp/sweep.out"
