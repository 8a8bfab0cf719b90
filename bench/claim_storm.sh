#!/usr/bin/env bash
# Claim storm: HTTP claims through gssd against the same claim script run by
# redis-benchmark with EVALSHA (the ceiling: Redis alone, no HTTP, no auth),
# in one run on this machine, with the ratio.
#
# Set-up (not measured): private Redis (AOF everysec, as in production) and
# PostgreSQL on free ports, BENCH_TECHS technicians (one shared password
# hash, inserted with SQL), BENCH_JOBS tickets needing 1..5 technicians put
# on the board with `gssd rebuild-pool`, one login per technician.
# Measured: wrk -t1 -c$BENCH_CONNS -d$BENCH_DURATION, each request a claim
# by a random technician on a random job (so after the first second most are
# job_full / tech_busy / already_claimed, as in a real storm), then
# redis-benchmark with the same connection count running EVALSHA claim on a
# full job (the job_full path), unpipelined.
#
# Usage: bench/claim_storm.sh [build dir]      (loopback only)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/bench}
dur=${BENCH_DURATION:-10s}
conns=${BENCH_CONNS:-64}
techs=${BENCH_TECHS:-1000}
njobs=${BENCH_JOBS:-2000}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSS_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
tmp=$(mktemp -d /tmp/gss-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); pport=$(free_port); hport=$(free_port)
cleanup() {
  [ -n "${gpid:-}" ] && kill "$gpid" 2>/dev/null && wait "$gpid" 2>/dev/null || true
  bash "$here/scripts/redis.sh" stop "$tmp/redis" "$rport" >/dev/null 2>&1 || true
  bash "$here/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
bash "$here/scripts/redis.sh" start "$tmp/redis" "$rport" >/dev/null
GSS_PG_FAST=1 bash "$here/scripts/pg.sh" start "$tmp/pg" "$pport" >/dev/null
export GSS_DATABASE_URL=postgresql://gss@127.0.0.1:$pport/gss GSS_REDIS_URL=redis://127.0.0.1:$rport/0
export GSS_LISTEN=127.0.0.1:$hport GSS_WEB_DIR=$here/web GSS_ARGON2_FAST=1
"$build/gssd" migrate 2>/dev/null
echo 'bench-password' | "$build/gssd" user add template --role ts --name Template >/dev/null
psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO users (username, name, role, password_hash)
  SELECT 'tech' || g, 'Tech ' || g, 'ts', (SELECT password_hash FROM users WHERE username = 'template')
  FROM generate_series(1, $techs) g;
INSERT INTO customers (name, phone, source) VALUES ('Bench', '6281100000000', 'manual');
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed)
  SELECT 'GSS-BENCH-' || g, 1, 'Bench job ' || g, 'Jl. Bench ' || g, 'Jakarta',
         now() + (g || ' minutes')::interval, 1 + (g * 7919) % 5
  FROM generate_series(1, $njobs) g;
SQL
"$build/gssd" rebuild-pool >/dev/null
psql -qAt "$GSS_DATABASE_URL" -c "SELECT id FROM tickets" > "$tmp/jobs"

"$build/gssd" serve 2>"$tmp/gssd.log" &
gpid=$!
for _ in $(seq 100); do curl -sf "http://$GSS_LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
seq 1 "$techs" | xargs -P 16 -I{} curl -sf -XPOST "http://$GSS_LISTEN/api/v1/auth/login" \
  -H 'Content-Type: application/json' -d '{"username":"tech{}","password":"bench-password"}' \
  | grep -o '"token":"[^"]*"' | cut -d'"' -f4 > "$tmp/tokens"
echo "set-up: $(wc -l < "$tmp/tokens") technicians logged in, $(wc -l < "$tmp/jobs") jobs on the board"

echo "== HTTP claim storm through gssd (wrk -t1 -c$conns -d$dur)"
if [ -n "${BENCH_PERF:-}" ]; then  # profile gssd during the storm: perf report -i $BENCH_PERF
  perf record -F 2000 -g -o "$BENCH_PERF" -p "$gpid" 2>/dev/null &
  perfpid=$!
fi
BENCH_TOKENS=$tmp/tokens BENCH_JOBS=$tmp/jobs wrk -t1 -c"$conns" -d"$dur" -s "$here/bench/claim.lua" \
  "http://$GSS_LISTEN" | tee "$tmp/wrk.out" | grep -E "claims:|latency:"
[ -n "${perfpid:-}" ] && kill -INT "$perfpid" && wait "$perfpid" || true
http_rps=$(awk '/^claims:/ {print $6}' "$tmp/wrk.out" | tr -d '/s')
curl -s "http://$GSS_LISTEN/metrics" | grep '^gss_pool_claims_total'

# The ceiling: the same script, same connection count, straight at Redis.
# The script as gssd sends it: lib/prelude.lua + claim.lua (cmake/embed.cmake).
cat "$here/src/pool/lua/lib/prelude.lua" "$here/src/pool/lua/claim.lua" > "$tmp/claim.lua"
sha=$(sha1sum "$tmp/claim.lua" | cut -d' ' -f1)
redis-cli -p "$rport" SCRIPT LOAD "$(cat "$tmp/claim.lua")" >/dev/null
full=$(psql -qAt "$GSS_DATABASE_URL" -c "SELECT id FROM tickets WHERE status = 'assigned' LIMIT 1")
[ -n "$full" ] || full=$(head -1 "$tmp/jobs")
P="gss:{default}:"
now=$(date +%s%3N)
echo "== redis-benchmark EVALSHA claim (job $full, -c$conns, unpipelined)"
redis-benchmark -h 127.0.0.1 -p "$rport" -c "$conns" -n 300000 --csv EVALSHA "$sha" 8 \
  "${P}pool" "${P}job:$full" "${P}job:$full:techs" "${P}job:$full:banned" "${P}tech:1" "${P}seq" \
  "${P}events" "${P}job:$full:slots" "$full" 1 3 gss:live "$now" | tee "$tmp/rb.out"
redis_rps=$(tail -1 "$tmp/rb.out" | cut -d, -f2 | tr -d '"')
awk -v h="$http_rps" -v r="$redis_rps" 'BEGIN { printf "HTTP claims %.0f/s, EVALSHA ceiling %.0f/s, ratio %.2f\n", h, r, h / r }'
