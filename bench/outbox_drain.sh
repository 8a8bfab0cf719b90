#!/usr/bin/env bash
# The outbox against the fake Telegram (issue 10's bench):
#
# 1. Drain: BENCH_ROWS (1000) announcements queued at once (one INSERT, one
#    commit) as sendMessage rows: BENCH_GROUP_ROWS (40) of them, spread
#    through the ids, into one supergroup (the technicians' group), the rest
#    round-robin into BENCH_CHATS (100) private chats (technicians' DMs). At
#    the fake (tests/fakes/telegram.mjs, plain HTTP on loopback, through
#    GSS_TELEGRAM_API_BASE and the real libcurl): every row accepted exactly
#    once and into its own chat, the database saying sent; the most sends in
#    any 1 s (goal <= 30), in any 60 s into the group (<= 20), in any 1 s into
#    one chat (<= 1); the drain time (commit of the INSERT to the last send
#    arriving). 40 group rows make the group limit bind: the second 20 can
#    only go a minute after the first, so the drain takes a minute at least.
#    The fake accepts everything by default (BENCH_FAKE_LIMITS=1: it answers
#    a breach with 429 like Telegram), so the windows are gssd's own pacing.
# 2. Claim p99, quiet and while the outbox drains (goal <= 1.2x quiet):
#    BENCH_TECHS (1000) technicians logged in, BENCH_JOBS (2000) jobs on the
#    board (as claim_storm.sh), bench/claim.lua's requests (a random
#    technician claims a random job), paced as uploads.sh paces them: wrk -t1
#    -c$BENCH_LAT_CONNS (8), each connection waiting BENCH_LAT_DELAY_MS (5) ms
#    between requests, for BENCH_CLAIM_DURATION (10s). At saturation wrk's p99
#    would be the length of its own queue, not what a claim meets. A discarded
#    warm-up run first puts the board in its steady state (every technician
#    holding a job, so later claims are tech_busy / job_full refusals: the
#    same HTTP, auth and Redis claim script, run after run). Then
#    BENCH_ROUNDS (3) times, alternating: quiet (outbox empty), then
#    BENCH_CLAIM_ROWS (1000) rows to the private chats queued at once and the
#    same run 1 s later, inside the drain (about 33 s at 30/s); the next quiet
#    run waits until that drain is over.
#
# BENCH_MODE=jobs: real job broadcasts instead of hand-made rows (needs
# db/migrations/0012_job_posts.sql in the build): BENCH_JOB_TICKETS (40)
# open tickets in one INSERT, BENCH_DM_TECHS (25) technicians with a linked
# Telegram chat, gssd with GSS_TELEGRAM_JOB_DM=1 and a Mini App (the button
# is the t.me Direct Link): the trigger queues one job.post per ticket, the
# fan-out one row per chat, so 40 x (1 group + 25 DMs) = 1,040 messages,
# each rendered when it leaves (gss_job_render). Checked at the fake: one
# message per ticket per chat (the ticket read from the button's job_<id>).
# The claim phase then queues the same each round.
#
# Usage: bench/outbox_drain.sh [build dir, default build/bench]
#   BENCH_NO_BUILD=1: use the build dir's gssd without building
#   BENCH_ROUNDS=0: the drain alone (no technicians, no claims)
#   BENCH_OUTBOX_POLL_MS: GSS_OUTBOX_POLL_MS for gssd (default: gssd's, 1000)
#   BENCH_NICE=-10: servers and clients at that nice value (root), against
#     the other work of a shared machine
# Needs: node (18+), wrk, psql, redis-server; loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/bench}
rows=${BENCH_ROWS:-1000}
chats=${BENCH_CHATS:-100}
group_rows=${BENCH_GROUP_ROWS:-40}
group=-1001234567890
rounds=${BENCH_ROUNDS:-3}
claim_rows=${BENCH_CLAIM_ROWS:-1000}
techs=${BENCH_TECHS:-1000}
njobs=${BENCH_JOBS:-2000}
mode=${BENCH_MODE:-rows}
# BENCH_NICE=-10: run our servers and clients at that nice value (root
# only), so other work on a shared machine disturbs the p99s less.
nice=${BENCH_NICE:+nice -n $BENCH_NICE}
job_tickets=${BENCH_JOB_TICKETS:-40}
dm_techs=${BENCH_DM_TECHS:-25}
lat_conns=${BENCH_LAT_CONNS:-8}
lat_delay=${BENCH_LAT_DELAY_MS:-5}
cdur=${BENCH_CLAIM_DURATION:-10s}
token=7000000001:AAbench-outbox_token
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSS_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" >/dev/null
fi
tmp=$(mktemp -d /tmp/gss-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); pport=$(free_port); hport=$(free_port)
cleanup() {
  [ -n "${gpid:-}" ] && kill "$gpid" 2>/dev/null && wait "$gpid" 2>/dev/null || true
  [ -n "${fpid:-}" ] && kill "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null || true
  bash "$here/scripts/redis.sh" stop "$tmp/redis" "$rport" >/dev/null 2>&1 || true
  bash "$here/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "outbox_drain: $*" >&2; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$1/stat"; }
# PostgreSQL's CPU seconds: the postmaster and its backends.
pg_cpu_s() {
  local pm
  pm=$(head -1 "$tmp/pg/postmaster.pid")
  { echo "$pm"; pgrep -P "$pm"; } | while read -r p; do cat "/proc/$p/stat" 2>/dev/null; done |
    awk -v t="$(getconf CLK_TCK)" '{ s += $14 + $15 } END { printf "%.2f\n", s / t }'
}
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
busy_pct() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN {printf "%.0f%%", 100 * (c - a) / ((c - a) + (d - b))}'; }
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }
# jf FILE KEY: a number or short value from the helper's JSON answer.
jf() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const v=o[process.argv[2]]; console.log(typeof v==="object"?JSON.stringify(v):v)' "$1" "$2"; }

$nice bash "$here/scripts/redis.sh" start "$tmp/redis" "$rport" >/dev/null
GSS_PG_FAST=1 $nice bash "$here/scripts/pg.sh" start "$tmp/pg" "$pport" >/dev/null
export GSS_DATABASE_URL=postgresql://gss@127.0.0.1:$pport/gss GSS_REDIS_URL=redis://127.0.0.1:$rport/0
export GSS_LISTEN=127.0.0.1:$hport GSS_WEB_DIR=$here/web GSS_ARGON2_FAST=1 GSS_LOG_REQUESTS=0
"$build/gssd" migrate 2>/dev/null
echo 'bench-password' | "$build/gssd" user add template --role ts --name Template >/dev/null
case $mode in
  rows) ;;
  jobs)
    [ "$(psql -qAt "$GSS_DATABASE_URL" -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'gss_job_ticket_ins'")" = 1 ] ||
      die "BENCH_MODE=jobs: this gssd has no job broadcasts (db/migrations/0012_job_posts.sql; re-run cmake)"
    psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO users (username, name, role, password_hash, telegram_id, telegram_chat_id)
  SELECT 'dm' || g, 'Teknisi DM ' || g, 'ts', (SELECT password_hash FROM users WHERE username = 'template'),
         710000000 + g, 710000000 + g
  FROM generate_series(1, $dm_techs) g;
SQL
    ;;
  *) die "BENCH_MODE=$mode: rows or jobs" ;;
esac
psql -q "$GSS_DATABASE_URL" -c "INSERT INTO customers (name, phone, source) VALUES ('Bench', '6281100000000', 'manual')"
if [ "$rounds" -gt 0 ]; then
  psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO users (username, name, role, password_hash)
  SELECT 'tech' || g, 'Tech ' || g, 'ts', (SELECT password_hash FROM users WHERE username = 'template')
  FROM generate_series(1, $techs) g;
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed)
  SELECT 'GSS-BENCH-' || g, 1, 'Bench job ' || g, 'Jl. Bench ' || g, 'Jakarta',
         now() + (g || ' minutes')::interval, 1 + (g * 7919) % 5
  FROM generate_series(1, $njobs) g;
SQL
  "$build/gssd" rebuild-pool >/dev/null
  psql -qAt "$GSS_DATABASE_URL" -c "SELECT id FROM tickets" > "$tmp/jobs"
  # Rows the set-up itself queued (job broadcasts of the tickets, once
  # they exist) would drain during the quiet runs: not part of this bench.
  pre=$(psql -qAt "$GSS_DATABASE_URL" -c "WITH d AS (DELETE FROM outbox RETURNING 1) SELECT count(*) FROM d")
  [ "$pre" = 0 ] || echo "set-up: removed $pre outbox rows the claim tickets' inserts queued"
fi
jobs_env=()
[ "$mode" = jobs ] && jobs_env=(GSS_TELEGRAM_JOB_DM=1 GSS_TELEGRAM_BOT_USERNAME=gss_bench_bot GSS_TELEGRAM_MINIAPP=job
                                GSS_PUBLIC_URL=https://gss.bench.co.id)

BENCH_TOKEN=$token $nice node "$here/bench/outbox_drain.mjs" "$tmp/fake.info" 2>"$tmp/fake.log" &
fpid=$!
for _ in $(seq 100); do [ -s "$tmp/fake.info" ] && break; sleep 0.1; done
[ -s "$tmp/fake.info" ] || { cat "$tmp/fake.log" >&2; die "the fake did not start"; }
read -r api ctl < "$tmp/fake.info"

$nice env GSS_TELEGRAM_TOKEN=$token GSS_TELEGRAM_API_BASE=$api GSS_TELEGRAM_TS_CHAT=$group "${jobs_env[@]}" \
  ${BENCH_OUTBOX_POLL_MS:+GSS_OUTBOX_POLL_MS=$BENCH_OUTBOX_POLL_MS} \
  "$build/gssd" serve 2>"$tmp/gssd.log" &
gpid=$!
for _ in $(seq 100); do curl -sf "http://$GSS_LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://$GSS_LISTEN/readyz" >/dev/null || { tail "$tmp/gssd.log" >&2; die "gssd not ready"; }
if [ "$rounds" -gt 0 ]; then
  seq 1 "$techs" | xargs -P 16 -I{} curl -sf -XPOST "http://$GSS_LISTEN/api/v1/auth/login" \
    -H 'Content-Type: application/json' -d '{"username":"tech{}","password":"bench-password"}' \
    | grep -o '"token":"[^"]*"' | cut -d'"' -f4 > "$tmp/tokens"
  echo "set-up: $(wc -l < "$tmp/tokens") technicians logged in, $(wc -l < "$tmp/jobs") jobs on the board"
fi
echo "machine: $(nproc) cores, load average $(load)"

# queue LABEL N GROUP_ROWS: N rows at once through the helper (it INSERTs);
# in jobs mode BENCH_JOB_TICKETS tickets instead.
queue() {
  if [ "$mode" = jobs ]; then
    curl -sf -XPOST "$ctl/queue_jobs?label=$1&n=$job_tickets&group_chat=$group" > "$tmp/$1.queued" ||
      die "queue $1: $(cat "$tmp/$1.queued")"
  else
    curl -sf -XPOST "$ctl/queue?label=$1&n=$2&chats=$chats&group=$3&group_chat=$group" > "$tmp/$1.queued" ||
      die "queue $1: $(cat "$tmp/$1.queued")"
  fi
}
# drained LABEL: waits for the batch, figures in $tmp/LABEL.json.
drained() { curl -sf "$ctl/wait?label=$1&timeout_s=900" > "$tmp/$1.json" || die "wait $1: $(cat "$tmp/$1.json")"; }
# report LABEL: the figures and the verdicts of one drained batch.
verdicts=0
report() {
  local f=$tmp/$1.json n
  n=$(jf "$f" rows)
  echo "  rows $n ($(jf "$f" group_rows) to the group, the rest to $(jf "$f" private_chats) private chats);" \
    "accepted $(jf "$f" accepted), missing $(jf "$f" missing), sent twice $(jf "$f" sent_twice)," \
    "wrong chat $(jf "$f" wrong_chat), unexpected $(jf "$f" unexpected), refused by the fake $(jf "$f" refused_by_fake) $(jf "$f" refused_statuses);" \
    "database: $(jf "$f" db_status)"
  echo "  drain $(jf "$f" drain_s) s (first send after $(jf "$f" first_send_s) s), $(jf "$f" rate_avg_per_s)/s on average;" \
    "the private chats' rows done after $(jf "$f" private_drain_s) s ($(jf "$f" private_rate_per_s)/s);" \
    "max in 1 s overall $(jf "$f" max_1s_overall) (<= 30), max in 60 s into the group $(jf "$f" max_60s_group) (<= 20)," \
    "max in 1 s into one chat $(jf "$f" max_1s_per_chat) (<= 1; closest two $(jf "$f" min_gap_same_chat_ms) ms)"
  node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const bad = [];
    if (o.missing || o.sent_twice || o.wrong_chat || o.unexpected || o.accepted !== o.rows) bad.push("not every row exactly once");
    if ((o.db_status.sent || 0) !== o.rows) bad.push("database: not all sent");
    if (o.max_1s_overall > 30) bad.push("over 30/s");
    if (o.max_60s_group > 20) bad.push("over 20/min into the group");
    if (o.max_1s_per_chat > 1) bad.push("over 1/s into a chat");
    if (o.refused_by_fake) bad.push("the fake refused some");
    console.log(bad.length ? "  FAIL: " + bad.join("; ") : "  OK: every row once, every limit kept");
    process.exit(bad.length ? 1 : 0);' "$f" || verdicts=1
}

if [ "$mode" = jobs ]; then
  echo "== 1. drain: $job_tickets open tickets inserted at once, each announced to group $group and $dm_techs linked technicians"
else
  echo "== 1. drain: $rows announcements queued at once ($group_rows into group $group, the rest into $chats private chats)"
fi
c0=$(cpu_s "$gpid"); p0=$(pg_cpu_s); f0=$(cpu_s "$fpid"); m0=$(cpu_ticks); t0=$(date +%s.%N)
queue d1 "$rows" "$group_rows"
drained d1
c1=$(cpu_s "$gpid"); p1=$(pg_cpu_s); f1=$(cpu_s "$fpid"); m1=$(cpu_ticks); t1=$(date +%s.%N)
report d1
share() { awk -v a="$1" -v b="$2" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.1f%%", 100 * (b - a) / (e - s)}'; }
# shellcheck disable=SC2086 # two numbers each
echo "  CPU over the drain (+1.5 s), % of one core: gssd $(share "$c0" "$c1"), PostgreSQL $(share "$p0" "$p1")," \
  "the fake (node) $(share "$f0" "$f1"); machine busy $(busy_pct $m0 $m1); load average $(load)"
curl -s "http://$GSS_LISTEN/metrics" | grep -E "^gss_outbox_(queued|sent|failed|oldest|in_doubt|batches)" | sed 's/^/  /' || true

if [ "$rounds" -gt 0 ]; then
  # bench/claim.lua's requests, paced, with one parseable result line.
  { cat "$here/bench/claim.lua"; cat <<'LUA'
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pace > 0 then delay = function() return pace end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk: requests=%d per_s=%.0f p50=%.0f p99=%.0f p999=%.0f max=%.0f errors=%d status=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
  } > "$tmp/claims.lua"
  # claims NAME: one paced run; its line in $tmp/NAME.wrk, with CPU shares.
  # loop_us_per_claim: the event loop thread's own on-CPU time (schedstat,
  # ns) over the run divided by the requests: what a claim costs the loop,
  # the outbox's work on the loop included, and unlike p99 hardly moved by
  # other work on the machine.
  loop_ns() { cut -d' ' -f1 "/proc/$gpid/task/$gpid/schedstat"; }
  claims() {
    local c0 c1 m0 m1 l0 s0 s1 n
    c0=$(cpu_s "$gpid"); m0=$(cpu_ticks); l0=$(load); s0=$(loop_ns)
    BENCH_DELAY_MS=$lat_delay BENCH_TOKENS=$tmp/tokens BENCH_JOBS=$tmp/jobs \
      $nice wrk -t1 -c"$lat_conns" -d"$cdur" -s "$tmp/claims.lua" "http://$GSS_LISTEN" | grep '^wrk:' > "$tmp/$1.wrk"
    c1=$(cpu_s "$gpid"); m1=$(cpu_ticks); s1=$(loop_ns)
    n=$(kv requests "$(cat "$tmp/$1.wrk")")
    # shellcheck disable=SC2086 # two numbers each
    echo "$(cat "$tmp/$1.wrk") gssd_cpu=$(awk -v a="$c0" -v b="$c1" -v d="${cdur%s}" 'BEGIN {printf "%.0f%%", 100 * (b - a) / d}')" \
      "loop_us_per_claim=$(awk -v a="$s0" -v b="$s1" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / 1000 / n}')" \
      "machine_busy=$(busy_pct $m0 $m1) load_before=${l0// /,}" > "$tmp/$1.wrk"
    echo "  $1: $(cut -d' ' -f2- "$tmp/$1.wrk")"
  }
  what="$claim_rows rows"; [ "$mode" = jobs ] && what="$job_tickets jobs' messages"
  echo "== 2. claim latency (wrk -t1 -c$lat_conns, $lat_delay ms between requests per connection, $cdur), quiet and while $what drain"
  claims warmup >/dev/null
  for r in $(seq "$rounds"); do
    claims "quiet$r"
    queue "c$r" "$claim_rows" 0
    sleep 1
    claims "drain$r"
    drained "c$r"
    echo "  (drain c$r: $(jf "$tmp/c$r.json" drain_s) s, accepted $(jf "$tmp/c$r.json" accepted)/$(jf "$tmp/c$r.json" rows)," \
      "missing $(jf "$tmp/c$r.json" missing), twice $(jf "$tmp/c$r.json" sent_twice), max 1 s $(jf "$tmp/c$r.json" max_1s_overall))"
    report "c$r" >/dev/null || true
  done
  echo "== claim p99 (us), quiet vs draining"
  for r in $(seq "$rounds"); do
    q=$(kv p99 "$(cat "$tmp/quiet$r.wrk")"); d=$(kv p99 "$(cat "$tmp/drain$r.wrk")")
    echo "  round $r: quiet $q, draining $d, ratio $(awk -v q="$q" -v d="$d" 'BEGIN {printf "%.2f", d / q}')" \
      "(p50 $(kv p50 "$(cat "$tmp/quiet$r.wrk")") vs $(kv p50 "$(cat "$tmp/drain$r.wrk")"))"
  done
  med() { sort -n | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
  mq=$(for r in $(seq "$rounds"); do kv p99 "$(cat "$tmp/quiet$r.wrk")"; done | med)
  md=$(for r in $(seq "$rounds"); do kv p99 "$(cat "$tmp/drain$r.wrk")"; done | med)
  echo "  median p99 over $rounds rounds: quiet $mq us, draining $md us," \
    "ratio $(awk -v q="$mq" -v d="$md" 'BEGIN {printf "%.2f", d / q}') (goal <= 1.20)"
  lq=$(for r in $(seq "$rounds"); do kv loop_us_per_claim "$(cat "$tmp/quiet$r.wrk")"; done | med)
  ld=$(for r in $(seq "$rounds"); do kv loop_us_per_claim "$(cat "$tmp/drain$r.wrk")"; done | med)
  echo "  event loop's CPU per claim (median): quiet $lq us, draining $ld us" \
    "(the drain's own share of the loop: $(awk -v q="$lq" -v d="$ld" 'BEGIN {printf "%+.1f", d - q}') us per claim)"
  echo "  machine busy per run (others' work included): $(for r in $(seq "$rounds"); do
    echo -n "quiet$r $(kv machine_busy "$(cat "$tmp/quiet$r.wrk")") drain$r $(kv machine_busy "$(cat "$tmp/drain$r.wrk")")  "; done)"
fi
echo "load average at the end: $(load)"
exit "$verdicts"
