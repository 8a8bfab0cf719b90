#!/usr/bin/env bash
# Visit monitor (docs/monitor.md, issue 8): what one scan costs as the
# assignments table grows, monitor.* fan-out to many CS sockets, and claims/s
# with the scanner running against it turned off.
#
# Set-up (not measured): private Redis and PostgreSQL on free ports,
# BENCH_TECHS technicians, one CS account. Assignments are made with SQL
# (generate_series), one per ticket, in states that cannot fall due (done,
# checked_in, cancelled) or `claimed` but scheduled weeks ahead; tickets of
# the far-future claimed rows sit in region "bench-far" so that
# `gssd rebuild-pool` (run for the claim phase) does not load them.
#
# 1. Scan: with BENCH_SIZES assignments (10000 then 100000), gssd scanning
#    every BENCH_SCAN_MS (100). Measured: (a) idle scans (none due): the
#    monitor's own last/max scan time from /metrics and the loop time per scan
#    (on-CPU ns of the main thread, /proc/PID/task/PID/schedstat, over
#    BENCH_IDLE_S, minus the same window with the scanner off): that is
#    the loop time; the scan time also counts
#    the waits on PostgreSQL; (b) BENCH_ROUNDS rounds of 10 due rows (10
#    claimed visits 20 min past their time, i.e. past the 15 min grace):
#    time from the INSERT to PostgreSQL showing all 10 `late`, the loop time
#    of such a scan, the scan time /metrics reports, and EXPLAIN ANALYZE of
#    the due query.
# 2. Fan-out: bench/monitor_fanout.mjs opens BENCH_SOCKETS (500) CS
#    WebSockets and publishes BENCH_FANOUT_ROUNDS events through gssd's own
#    publish script; from the EVAL to the first and the last socket.
# 3. Claims/s: wrk -t1 -c$BENCH_CONNS -d$BENCH_DURATION of claims (as
#    claim_storm.sh, fresh BENCH_JOBS jobs per run) with the scanner off
#    (GSS_MONITOR_SCAN_MS=3600000), every 100 ms, and at the default 5000,
#    alternated so drift shows.
#
# Usage: bench/monitor_scan.sh [build dir]      (loopback only)
#        BENCH_NO_BUILD=1 bench/monitor_scan.sh build/h-mtest   # a gssd built already
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/bench}
sizes=${BENCH_SIZES:-10000 100000}
scan_ms=${BENCH_SCAN_MS:-100}
idle_s=${BENCH_IDLE_S:-10}
rounds=${BENCH_ROUNDS:-10}
nsock=${BENCH_SOCKETS:-500}
frounds=${BENCH_FANOUT_ROUNDS:-30}
dur=${BENCH_DURATION:-8s}
conns=${BENCH_CONNS:-64}
techs=${BENCH_TECHS:-1000}
njobs=${BENCH_JOBS:-2000}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSS_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 >/dev/null
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
tmp=$(mktemp -d /tmp/gss-bench-mon.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); pport=$(free_port); hport=$(free_port)
gpid=
stop_gssd() {
  if [ -n "$gpid" ]; then kill "$gpid" 2>/dev/null || true; wait "$gpid" 2>/dev/null || true; gpid=; fi
}
cleanup() {
  stop_gssd
  bash "$here/scripts/redis.sh" stop "$tmp/redis" "$rport" >/dev/null 2>&1 || true
  bash "$here/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
bash "$here/scripts/redis.sh" start "$tmp/redis" "$rport" >/dev/null
GSS_PG_FAST=1 bash "$here/scripts/pg.sh" start "$tmp/pg" "$pport" >/dev/null
export GSS_DATABASE_URL=postgresql://gss@127.0.0.1:$pport/gss GSS_REDIS_URL=redis://127.0.0.1:$rport/0
export GSS_LISTEN=127.0.0.1:$hport GSS_WEB_DIR=$here/web GSS_ARGON2_FAST=1 GSS_LOG_REQUESTS=0
export GSS_TECH_MAX_ACTIVE=100 GSS_LOG_LEVEL=warn
base=http://$GSS_LISTEN
q() { psql -qAtX -v ON_ERROR_STOP=1 "$GSS_DATABASE_URL" "$@"; }

"$build/gssd" migrate 2>/dev/null
echo 'bench-password' | "$build/gssd" user add template --role ts --name Template >/dev/null
echo 'bench-password' | "$build/gssd" user add benchcs --role cs --name 'Bench CS' >/dev/null
q <<SQL
INSERT INTO users (username, name, role, password_hash)
  SELECT 'tech' || g, 'Tech ' || g, 'ts', (SELECT password_hash FROM users WHERE username = 'template')
  FROM generate_series(1, $techs) g;
INSERT INTO customers (name, phone, source) VALUES ('Bench', '6281100000000', 'manual');
SQL
tmin=$(q -c "SELECT min(id) FROM users WHERE username LIKE 'tech%' AND username <> 'template'")

start_gssd() { # $1 = GSS_MONITOR_SCAN_MS
  GSS_MONITOR_SCAN_MS=$1 "$build/gssd" serve 2>>"$tmp/gssd.log" &
  gpid=$!
  for _ in $(seq 200); do curl -sf "$base/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "gssd did not come up:"; tail -20 "$tmp/gssd.log"; exit 1
}
metric() { curl -s "$base/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# On-CPU time of gssd's main thread (the event loop), ns: schedstat's first field.
loop_ns() { awk '{ print $1 }' "/proc/$gpid/task/$gpid/schedstat"; }

# Assignments from ticket number $1 to $2 (one per ticket), none due.
seed() {
  q <<SQL
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed, status, region)
  SELECT 'GSS-MON-' || g, 1, 'Monitor bench ' || g, 'Jl. Bench ' || g, 'Jakarta',
         CASE WHEN g % 10 < 6 THEN now() - interval '1 day' - (g % 1000) * interval '1 minute'
              ELSE now() + interval '30 days' + (g % 5000) * interval '1 minute' END,
         1,
         CASE g % 10 WHEN 0 THEN 'closed' WHEN 1 THEN 'closed' WHEN 2 THEN 'closed' WHEN 3 THEN 'closed'
                     WHEN 4 THEN 'in_progress' WHEN 5 THEN 'cancelled' ELSE 'assigned' END,
         CASE WHEN g % 10 >= 6 THEN 'bench-far' ELSE 'default' END
  FROM generate_series($1, $2) g;
INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at, state, checked_in_at, done_at)
  SELECT t.id, $tmin + (substr(t.code, 9)::int % $techs), 1, t.scheduled_at - interval '1 day',
         CASE substr(t.code, 9)::int % 10 WHEN 4 THEN 'checked_in' WHEN 5 THEN 'cancelled'
              WHEN 6 THEN 'claimed' WHEN 7 THEN 'claimed' WHEN 8 THEN 'claimed' WHEN 9 THEN 'claimed'
              ELSE 'done' END,
         CASE WHEN substr(t.code, 9)::int % 10 < 5 THEN t.scheduled_at END,
         CASE WHEN substr(t.code, 9)::int % 10 < 4 THEN t.scheduled_at + interval '2 hours' END
  FROM tickets t WHERE t.code LIKE 'GSS-MON-%' AND substr(t.code, 9)::int BETWEEN $1 AND $2;
ANALYZE tickets; ANALYZE assignments;
SQL
}

due_round=0
# 10 claimed visits 20 minutes past their time: due for `late` now.
add_due() {
  due_round=$((due_round + 1))
  q <<SQL
WITH t AS (
  INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed, status)
  SELECT 'GSS-DUE-$due_round-' || g, 1, 'Due ' || g, 'Jl. Due ' || g, 'Jakarta',
         now() - interval '20 minutes', 1, 'assigned'
  FROM generate_series(1, 10) g RETURNING id, code)
INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at)
  SELECT id, $tmin + (substr(code, length('GSS-DUE-$due_round-') + 1)::int), 1, now() - interval '1 hour' FROM t;
SQL
}

echo "== 1. one scan as the assignments table grows (scan every ${scan_ms} ms)"
have=0
for n in $sizes; do
  t0=$(date +%s%N)
  seed $((have + 1)) "$n"
  have=$n
  total=$(q -c "SELECT count(*) FROM assignments")
  inidx=$(q -c "SELECT count(*) FROM assignments WHERE state IN ('claimed', 'late') AND released_at IS NULL")
  echo "-- $total assignments ($inidx in the due indexes, none due; seeded in $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
  # Loop time with the scanner off, then with it on (idle: nothing due).
  start_gssd 3600000
  sleep 1; c0=$(loop_ns); sleep "$idle_s"; c1=$(loop_ns)
  stop_gssd
  start_gssd "$scan_ms"
  sleep 1
  s0=$(metric gss_monitor_scans_total); c2=$(loop_ns); sleep "$idle_s"; c3=$(loop_ns); s1=$(metric gss_monitor_scans_total)
  idle_per=$(awk -v off=$((c1 - c0)) -v on=$((c3 - c2)) -v s="$((s1 - s0))" 'BEGIN { printf "%.0f", (on - off) / (s > 0 ? s : 1) }')
  awk -v off=$((c1 - c0)) -v on=$((c3 - c2)) -v s="$((s1 - s0))" -v w="$idle_s" -v p="$idle_per" 'BEGIN {
    printf "   idle: %d scans in %d s; event loop on CPU %.2f ms with the scanner, %.2f ms without: %.3f ms of loop time per scan\n",
      s, w, on / 1e6, off / 1e6, p / 1e6 }'
  curl -s "$base/metrics" | grep -E '^gss_monitor_scan_(max_)?seconds' | sed 's/^/   idle: /'
  # Rounds of 10 due rows; no request to gssd inside the window (a scrape
  # costs loop time too): loop time of the window, minus the idle scans'.
  s2=$(metric gss_monitor_scans_total); c4=$(loop_ns)
  lat=""
  for r in $(seq "$rounds"); do
    t1=$(date +%s%N)
    add_due
    for _ in $(seq 400); do
      [ "$(q -c "SELECT count(*) FROM assignments a JOIN tickets t ON t.id = a.ticket_id WHERE t.code LIKE 'GSS-DUE-$due_round-%' AND a.state = 'late'")" -ge 10 ] && break
      sleep 0.01
    done
    lat="$lat $(( ($(date +%s%N) - t1) / 1000000 ))"
  done
  c5=$(loop_ns); s3=$(metric gss_monitor_scans_total)
  awk -v d=$((c5 - c4)) -v s=$((s3 - s2)) -v r="$rounds" -v p="$idle_per" -v l="$lat" 'BEGIN {
    printf "   %d rounds of 10 due (%d scans): all 10 late after%s ms; loop time per 10-due scan %.3f ms\n",
      r, s, l, (d - (s - r) * p) / r / 1e6 }'
  echo "   scan time (BEGIN to COMMIT) of the last / slowest scan: $(metric gss_monitor_scan_seconds) / $(metric gss_monitor_scan_max_seconds) s"
  # Next sizes start clean: the due rows go on to no_show only after an hour.
  echo "   EXPLAIN ANALYZE of the due-for-late query (the partial index, as docs/monitor.md states it):"
  q -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT ticket_id, tech_id FROM assignments
        WHERE state = 'claimed' AND released_at IS NULL AND sched_at <= now() - interval '900 seconds'
        ORDER BY sched_at LIMIT 500" | sed 's/^/     /'
  curl -s "$base/metrics" | grep -E '^gss_monitor_' | sed 's/^/   /'
  stop_gssd
done

echo "== 2. monitor.* fan-out to $nsock CS sockets"
start_gssd 5000
cstok=$(curl -sf -XPOST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"username":"benchcs","password":"bench-password"}' | grep -o '"token":"[^"]*"' | cut -d'"' -f4)
chan=$(redis-cli -p "$rport" PUBSUB CHANNELS '*monitor*' | head -1)
[ -n "$chan" ] || { echo "no gssd subscribed to a *monitor* channel"; exit 1; }
node "$here/bench/monitor_fanout.mjs" "$base" "$cstok" "$rport" "$chan" "$chan:seq" "$nsock" "$frounds"
stop_gssd

echo "== 3. claims/s with the scanner on and off (wrk -t1 -c$conns -d$dur, $njobs fresh jobs per run)"
start_gssd 3600000
seq 1 "$techs" | xargs -P 16 -I{} curl -sf -XPOST "$base/api/v1/auth/login" \
  -H 'Content-Type: application/json' -d '{"username":"tech{}","password":"bench-password"}' \
  | grep -o '"token":"[^"]*"' | cut -d'"' -f4 > "$tmp/tokens"
stop_gssd
run=0
for ms in 3600000 "$scan_ms" 5000 3600000 "$scan_ms"; do
  run=$((run + 1))
  q <<SQL
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed)
  SELECT 'GSS-CLAIM-$run-' || g, 1, 'Claim bench ' || g, 'Jl. Bench ' || g, 'Jakarta',
         now() + interval '1 day' + (g || ' minutes')::interval, 1 + (g * 7919) % 5
  FROM generate_series(1, $njobs) g;
SQL
  q -c "SELECT id FROM tickets WHERE code LIKE 'GSS-CLAIM-$run-%'" > "$tmp/jobs"
  "$build/gssd" rebuild-pool >/dev/null
  start_gssd "$ms"
  label=$([ "$ms" = 3600000 ] && echo "scanner off" || echo "scan every $ms ms")
  BENCH_TOKENS=$tmp/tokens BENCH_JOBS=$tmp/jobs wrk -t1 -c"$conns" -d"$dur" -s "$here/bench/claim.lua" \
    "$base" | grep -E "claims:|latency:" | sed "s/^/   $label: /"
  echo "   $label: $(metric gss_monitor_scans_total) scans"
  stop_gssd
done
