#!/usr/bin/env bash
# The money endpoints (docs/money.md) under load, in one run:
#
#  1. CS at work: BENCH_CS (50) CS sessions at once, each a client looping
#     over a CS mix of the invoice endpoints (bench/money_client.mjs mix):
#     GET the list 25 %, GET one invoice 40 %, PATCH one of its drafts 25 %,
#     create an invoice on a fresh work_done ticket 10 %; p50/p99/max per
#     endpoint and overall, requests/s. Once closed-loop (no pause: the
#     server's capacity; p99 then includes the wait for a free PostgreSQL
#     connection), then paced: each session pauses THINK ms between its
#     requests (100: up to 500 requests/s offered, near this machine's
#     capacity; 500: up to 100/s, what a request meets well below it).
#     BENCH_THINK lists the pauses ("0 100 500").
#  2. The customers' invoice page: GET /api/v1/public/invoices/{token} by
#     wrk (-t2 -c BENCH_PUBLIC_CONNS, BENCH_PUBLIC_DURATION), a random one of
#     BENCH_PUBLIC_INVOICES sent invoices' tokens per request
#     (bench/public_invoice.lua); requests/s, p50/p99, and the answers by
#     status (all must be 200: the rate limit is raised for the run with
#     GSS_PUBLIC_RATE_PER_MIN / GSS_PUBLIC_RATE_BURST, so it never answers
#     429 to wrk's single loopback address).
#
# Set-up (not measured), shared with bench/render_load.sh (sourced): private
# Redis and PostgreSQL (fsync off), the schema; BENCH_CS CS accounts and one
# Sales account (SQL, one shared password hash), each logged in through the
# API. The work_done tickets are made by SQL (tickets with status
# work_done and one technician's assignment done): walking thousands of
# tickets through claim, check-in, BAST, check-out and Selesai would measure
# the field work, not the invoices. Everything else goes through the API:
# BENCH_PUBLIC_INVOICES invoices created, submitted, approved and sent (their
# public tokens come from send's invoice_url), BENCH_DRAFTS drafts per CS
# session, and the rest of the tickets (BENCH_FRESH) are the sessions' fresh
# ones for the creates of part 1.
#
# Usage: bench/money.sh [build dir]              (loopback only)
#   BENCH_CS 50, BENCH_DURATION 20 (s per phase of part 1), BENCH_THINK "0 100 500",
#   BENCH_MIX "list=25,get=40,patch=25,create=10" (the shares of part 1),
#   BENCH_DRAFTS 4, BENCH_FRESH 4000, BENCH_PUBLIC_INVOICES 1000,
#   BENCH_PUBLIC_CONNS 100, BENCH_PUBLIC_DURATION 10s,
#   GSS_PG_POOL_SIZE, GSS_TAX_RATE_BP (1100 here) passed to gssd as they are,
#   BENCH_NO_BUILD=1: use the build dir's gssd without building
set -euo pipefail
# shellcheck source=bench/render_load.sh
source "$(dirname "${BASH_SOURCE[0]}")/render_load.sh"

ncs=${BENCH_CS:-50}
dur=${BENCH_DURATION:-20}
thinks=${BENCH_THINK:-0 100 500}
drafts=${BENCH_DRAFTS:-4}
fresh=${BENCH_FRESH:-4000}
npub=${BENCH_PUBLIC_INVOICES:-1000}
pconns=${BENCH_PUBLIC_CONNS:-100}
pdur=${BENCH_PUBLIC_DURATION:-10s}
ntickets=$(( npub + ncs * drafts + fresh ))

bench_init "${1:-}"
bench_stores_up
export GSS_LOG_REQUESTS=0 GSS_LOG_LEVEL=warn
export GSS_TAX_RATE_BP=${GSS_TAX_RATE_BP:-1100}
export GSS_PUBLIC_URL=http://$GSS_LISTEN
export GSS_LINK_KEY=${GSS_LINK_KEY:-62656e63682d6c696e6b2d6b65792d6f6e6c792d666f722d62656e636865732121}
export GSS_PUBLIC_RATE_PER_MIN=100000000 GSS_PUBLIC_RATE_BURST=100000000
bench_users 10
echo 'bench-password' | "$build/gssd" user add bench-sales --role sales --name 'Bench Sales' >/dev/null
psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO users (username, name, role, password_hash, phone)
  SELECT 'cs' || g, 'CS Bench ' || g, 'cs', (SELECT password_hash FROM users WHERE username = 'template'),
         '62813' || lpad(g::text, 7, '0')
  FROM generate_series(1, $ncs) g;
-- work_done tickets, each with its technician's assignment done (bench
-- set-up only: the API's way there is the field work, benched elsewhere).
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed, status)
  SELECT 'GSS-MNY-' || g, (SELECT min(id) FROM customers), 'AC tidak dingin, unit ' || g,
         'Jl. Invoice No. ' || g || ', Jakarta Selatan', 'Jakarta Selatan',
         now() - interval '1 day' + (g || ' seconds')::interval, 1, 'work_done'
  FROM generate_series(1, $ntickets) g;
INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at, state, checked_in_at, checked_out_at, done_at)
  SELECT t.id, u.id, 1, now() - interval '1 day', 'done', now() - interval '20 hours',
         now() - interval '19 hours', now() - interval '19 hours'
  FROM tickets t JOIN users u ON u.username = 'tech' || (1 + t.id % 10)
  WHERE t.code LIKE 'GSS-MNY-%';
SQL
psql -qAt "$GSS_DATABASE_URL" -c "SELECT id FROM tickets WHERE code LIKE 'GSS-MNY-%' ORDER BY id" > "$tmp/tickets"

bench_gssd_start
seq 1 "$ncs" | xargs -P 8 -I{} curl -sf -XPOST "http://$GSS_LISTEN/api/v1/auth/login" \
  -H 'Content-Type: application/json' -d '{"username":"cs{}","password":"bench-password"}' \
  | grep -o '"token":"[^"]*"' | cut -d'"' -f4 > "$tmp/cs_tokens"
bench_login bench-sales > "$tmp/sales_token"
[ "$(wc -l < "$tmp/cs_tokens")" -eq "$ncs" ] || { echo "only $(wc -l < "$tmp/cs_tokens") of $ncs CS logins" >&2; exit 1; }

# PostgreSQL's CPU seconds so far: the postmaster and its live children
# (gssd's pooled connections stay open, so their backends are among them).
pg_cpu_s() {
  local pm
  pm=$(head -1 "$tmp/pg/postmaster.pid")
  { echo "$pm"; pgrep -P "$pm"; } | while read -r p; do cat "/proc/$p/stat" 2>/dev/null; done |
    awk -v t="$(getconf CLK_TCK)" '{ s += $14 + $15 } END { printf "%.2f\n", s / t }'
}
# share A B T0 T1: CPU seconds A→B over the wall time T0→T1, as % of one core.
share() { awk -v a="$1" -v b="$2" -v s="$3" -v e="$4" 'BEGIN {printf "%.0f%%", 100 * (b - a) / (e - s)}'; }

client=$BENCH_HERE/bench/money_client.mjs
BENCH_URL="http://$GSS_LISTEN" BENCH_PUBLIC_INVOICES=$npub BENCH_DRAFTS=$drafts node "$client" prepare "$tmp"
echo "set-up: $ncs CS sessions, $(wc -l < "$tmp/tickets") work_done tickets (SQL), $npub sent invoices (API);" \
  "PostgreSQL pool ${GSS_PG_POOL_SIZE:-4} connections, tax ${GSS_TAX_RATE_BP} bp"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. invoice endpoints, $ncs CS sessions at once, ${dur} s per row"
for think in $thinks; do
  c0=$(cpu_s "$gpid"); p0=$(pg_cpu_s); m0=$(cpu_ticks); t0=$(date +%s.%N)
  BENCH_URL="http://$GSS_LISTEN" node "$client" mix "$tmp" "$think" "$dur"
  c1=$(cpu_s "$gpid"); p1=$(pg_cpu_s); m1=$(cpu_ticks); t1=$(date +%s.%N)
  # shellcheck disable=SC2086 # two numbers each
  echo "   cpu (% of one core): gssd $(share "$c0" "$c1" "$t0" "$t1"), PostgreSQL $(share "$p0" "$p1" "$t0" "$t1");" \
    "machine busy $(busy_pct $m0 $m1), load $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "invoices in the table: $(psql -qAt "$GSS_DATABASE_URL" -c \
  "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM invoices GROUP BY status ORDER BY status) x")"

echo "== 2. public invoice page: wrk -t2 -c$pconns -d$pdur, $npub distinct tokens"
# One warm-up second (connections, the statement cache), then the run.
BENCH_TOKENS=$tmp/public_tokens wrk -t2 -c"$pconns" -d1s -s "$BENCH_HERE/bench/public_invoice.lua" "http://$GSS_LISTEN" >/dev/null
c0=$(cpu_s "$gpid"); p0=$(pg_cpu_s); m0=$(cpu_ticks); t0=$(date +%s.%N)
BENCH_TOKENS=$tmp/public_tokens wrk -t2 -c"$pconns" -d"$pdur" -s "$BENCH_HERE/bench/public_invoice.lua" "http://$GSS_LISTEN" \
  | grep '^public:' > "$tmp/public.wrk"
c1=$(cpu_s "$gpid"); p1=$(pg_cpu_s); m1=$(cpu_ticks); t1=$(date +%s.%N)
line=$(cat "$tmp/public.wrk")
echo "   requests/s $(kv per_s "$line"), p50 $(awk -v u="$(kv p50 "$line")" 'BEGIN {printf "%.2f", u / 1000}') ms," \
  "p99 $(awk -v u="$(kv p99 "$line")" 'BEGIN {printf "%.2f", u / 1000}') ms, p99.9 $(awk -v u="$(kv p999 "$line")" 'BEGIN {printf "%.2f", u / 1000}') ms;" \
  "answers: 200 $(kv ok "$line"), 429 $(kv limited "$line"), other $(kv other "$line"), socket errors $(kv errors "$line")"
# shellcheck disable=SC2086 # two numbers each
echo "   cpu (% of one core): gssd $(share "$c0" "$c1" "$t0" "$t1"), PostgreSQL $(share "$p0" "$p1" "$t0" "$t1");" \
  "machine busy $(busy_pct $m0 $m1)"
if [ "$(kv limited "$line")" != 0 ] || [ "$(kv other "$line")" != 0 ]; then
  echo "   (not every answer was 200: the figures above are not the page's)" >&2
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
