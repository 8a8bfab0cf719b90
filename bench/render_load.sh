#!/usr/bin/env bash
# Letters per second: GET /api/v1/tickets/{id}/letter.pdf (the Surat Tugas,
# rendered by libharu on gssd's rendering pool) by N concurrent clients,
# every request for a ticket not asked for before, so the letter cache never
# answers (it would serve a repeat from memory). For each N: letters/s,
# latency p50/p99, 503 "busy" answers (the render queue was full), and gssd's
# CPU; then gssd's RSS before and after (the cache keeps up to 256 PDFs).
#
# Set-up (not measured): private Redis and PostgreSQL on free ports, one CS
# account, BENCH_LETTER_TICKETS tickets with one or two technicians each
# (SQL), gssd serving. The client is a small node script (keep-alive
# connections), written to the temp folder.
#
# Usage: bench/render_load.sh [build dir]        (loopback only)
#   BENCH_LETTER_CLIENTS  "1 2 4 8 20"   client counts to measure
#   BENCH_LETTER_COUNT    200            letters per client count
#   BENCH_LETTER_TICKETS  distinct tickets made (default: enough for the runs)
#   GSS_RENDER_THREADS, GSS_RENDER_QUEUE  passed to gssd as they are
#   BENCH_NO_BUILD=1      use the build dir's gssd without building
#
# This file is also the set-up library of bench/uploads.sh, which sources it
# (the bench_* functions below); run directly, it is its own bench (main at
# the end).
set -euo pipefail

BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---- set-up and teardown ---------------------------------------------------

# bench_init [build dir]: builds gssd (Release; BENCH_NO_BUILD=1 takes the
# build dir's gssd as it is, e.g. to compare two trees), makes the temp
# folder and picks the ports; everything is torn down at exit.
bench_init() {
  build=${1:-$BENCH_HERE/build/bench}
  if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    cmake -S "$BENCH_HERE" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSS_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" >/dev/null
  fi
  [ -x "$build/gssd" ] || { echo "no gssd in $build" >&2; return 1; }
  tmp=$(mktemp -d /tmp/gss-bench.XXXXXX)
  chmod 0711 "$tmp" # pg.sh runs PostgreSQL as another user when we are root
  rport=$(bench_free_port); pport=$(bench_free_port); hport=$(bench_free_port)
  gpid=""
  trap bench_cleanup EXIT
}

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_cleanup() {
  local p
  for p in ${bench_bg_pids:-}; do kill "$p" 2>/dev/null || true; done
  if [ -n "${gpid:-}" ]; then kill "$gpid" 2>/dev/null && wait "$gpid" 2>/dev/null || true; fi
  bash "$BENCH_HERE/scripts/redis.sh" stop "$tmp/redis" "$rport" >/dev/null 2>&1 || true
  bash "$BENCH_HERE/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}

# bench_stores_up: Redis, PostgreSQL (fsync off), the schema; exports gssd's
# environment.
bench_stores_up() {
  bash "$BENCH_HERE/scripts/redis.sh" start "$tmp/redis" "$rport" >/dev/null
  GSS_PG_FAST=1 bash "$BENCH_HERE/scripts/pg.sh" start "$tmp/pg" "$pport" >/dev/null
  export GSS_DATABASE_URL=postgresql://gss@127.0.0.1:$pport/gss GSS_REDIS_URL=redis://127.0.0.1:$rport/0
  export GSS_LISTEN=127.0.0.1:$hport GSS_WEB_DIR=$BENCH_HERE/web GSS_ARGON2_FAST=1
  export GSS_UPLOAD_DIR=$tmp/uploads
  "$build/gssd" migrate 2>/dev/null
}

# bench_users TECHS: technicians tech1..TECHS (one shared password hash,
# inserted with SQL), "bench-cs" (cs) and "uploader" (ts), one customer.
bench_users() {
  echo 'bench-password' | "$build/gssd" user add template --role ts --name Template >/dev/null
  echo 'bench-password' | "$build/gssd" user add bench-cs --role cs --name 'Bench CS' >/dev/null
  echo 'bench-password' | "$build/gssd" user add uploader --role ts --name 'Bench Uploader' >/dev/null
  psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO users (username, name, role, password_hash, phone)
  SELECT 'tech' || g, 'Teknisi Bench ' || g, 'ts', (SELECT password_hash FROM users WHERE username = 'template'),
         '62812' || lpad(g::text, 7, '0')
  FROM generate_series(1, $1) g;
INSERT INTO customers (name, phone, address, source)
  VALUES ('Pelanggan Bench', '6281100000000', 'Jl. Bench No. 1, Jakarta', 'manual');
SQL
}

# bench_letter_tickets N: N tickets of the first customer, each with one or
# two of the technicians tech1..TECHS assigned (a letter needs one); their
# ids go to $tmp/letter_ids. Made after the board is built, so they are
# not jobs on it.
bench_letter_tickets() {
  local n=$1 techs=$2
  psql -q "$GSS_DATABASE_URL" <<SQL
INSERT INTO tickets (code, customer_id, problem, address, area, scheduled_at, techs_needed, status)
  SELECT 'GSS-LTR-' || g, (SELECT min(id) FROM customers), 'Servis AC ruang ' || g,
         'Jl. Surat Tugas No. ' || g || ', Jakarta Selatan', 'Jakarta',
         now() + interval '1 day' + (g || ' minutes')::interval, 1 + g % 2, 'assigned'
  FROM generate_series(1, $n) g;
INSERT INTO assignments (ticket_id, tech_id, slot, claimed_at)
  SELECT t.id, u.id, s.slot, now()
  FROM tickets t
  CROSS JOIN LATERAL generate_series(1, t.techs_needed) AS s(slot)
  JOIN users u ON u.username = 'tech' || (1 + (t.id * 7 + s.slot * 13) % $techs)
  WHERE t.code LIKE 'GSS-LTR-%';
SQL
  psql -qAt "$GSS_DATABASE_URL" -c "SELECT id FROM tickets WHERE code LIKE 'GSS-LTR-%' ORDER BY id" > "$tmp/letter_ids"
}

# bench_gssd_start: gssd serve in the background (log in $tmp/gssd.log),
# waited for until /readyz answers.
bench_gssd_start() {
  "$build/gssd" serve 2>"$tmp/gssd.log" &
  gpid=$!
  local _
  for _ in $(seq 100); do curl -sf "http://$GSS_LISTEN/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "gssd did not become ready; its log:" >&2
  tail -20 "$tmp/gssd.log" >&2
  return 1
}

# bench_login USER: prints the session token.
bench_login() {
  curl -sf -XPOST "http://$GSS_LISTEN/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"bench-password\"}" | grep -o '"token":"[^"]*"' | cut -d'"' -f4
}

# ---- gssd's memory and CPU -------------------------------------------------

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# Resets VmHWM to the current RSS, so VmHWM afterwards is the peak since now.
hwm_reset() { echo 5 > "/proc/$1/clear_refs"; }
# CPU seconds (user + system) the process has used so far.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$1/stat"; }
# The machine's CPU counters (busy idle, in ticks) and the busy share of all
# cores between two of them: what everything on the machine used, ours or not.
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
busy_pct() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN {printf "%.0f%%", 100 * (c - a) / ((c - a) + (d - b))}'; }
mib_of_kib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# kv KEY LINE: the value of KEY=value in a line of the client's output.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }

# ---- the client --------------------------------------------------------------

# bench_client: writes $tmp/client.mjs, the load client (node, keep-alive).
#   node client.mjs letters N IDS_FILE COUNT|loop   BENCH_IDS_FROM: first index
#   node client.mjs uploads N MIB once|loop         BENCH_TICKET: the ticket
# Env: BENCH_URL, BENCH_TOKEN, BENCH_STOP (loop mode ends once it exists).
# Prints one line of key=value pairs: ok bad rejected ms per_s p50 p99 next
# (letters: next index of IDS_FILE not used yet), mib_s (uploads), and the
# first failure on stderr.
bench_client() {
  cat > "$tmp/client.mjs" <<'JS'
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const [mode, nArg, arg3, arg4] = process.argv.slice(2);
const base = new URL(process.env.BENCH_URL);
const token = process.env.BENCH_TOKEN;
const stopFile = process.env.BENCH_STOP || '';
const stopped = () => stopFile !== '' && fs.existsSync(stopFile);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const MiB = 1024 * 1024;
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function request(method, path, headers, parts = []) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const h = { authorization: `Bearer ${token}`, ...headers };
    if (method !== 'GET') h['content-length'] = String(parts.reduce((n, p) => n + p.length, 0));
    const fail = (e) => resolve({ status: 0, body: Buffer.from(String(e)), ms: 0 });
    const r = http.request({ host: base.hostname, port: base.port, method, path, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks),
        ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    r.on('error', fail);
    for (const p of parts) r.write(p);
    r.end();
  });
}

const pct = (xs, p) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const rate = (n, ms) => (ms > 0 ? n / (ms / 1000) : 0);
let firstBad = '';
const noteBad = (what, r) => { if (!firstBad) firstBad = `${what}: ${r.status} ${r.body.toString('utf8', 0, 200)}`; };

async function letters(n, idsFile, count) {
  const ids = fs.readFileSync(idsFile, 'utf8').split('\n').filter(Boolean);
  let next = Number(process.env.BENCH_IDS_FROM || 0);
  const limit = count === 'loop' ? ids.length : Math.min(ids.length, next + Number(count));
  let ok = 0, bad = 0, rejected = 0;
  const lat = [];
  const t0 = Date.now();
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < limit && !stopped()) {
      const id = ids[next++];
      const r = await request('GET', `/api/v1/tickets/${id}/letter.pdf`, {});
      if (r.status === 200 && r.body.subarray(0, 5).toString('latin1') === '%PDF-') { ok++; lat.push(r.ms); }
      else if (r.status === 503) rejected++;
      else { bad++; noteBad(`letter ${id}`, r); }
    }
  }));
  const ms = Date.now() - t0;
  return { ok, bad, rejected, ms, per_s: rate(ok, ms).toFixed(1), p50: pct(lat, 50).toFixed(1),
    p99: pct(lat, 99).toFixed(1), next, exhausted: next >= ids.length ? 1 : 0 };
}

async function uploads(n, mib, loop) {
  const size = mib * MiB;
  const tail = crypto.randomBytes(size - 64); // shared; each file has its own first 64 bytes
  const ticket = process.env.BENCH_TICKET;
  let ok = 0, bad = 0, bytes = 0;
  const lat = [];
  const t0 = Date.now();
  await Promise.all(Array.from({ length: n }, async (_, w) => {
    for (let round = 0; ; round++) {
      const head = Buffer.alloc(64);
      PNG.copy(head);
      head.write(`w${w} r${round} ${crypto.randomBytes(8).toString('hex')}`, 8, 'latin1');
      // Checking the hash costs the client a core-second per 500 MiB: only once.
      const sha = loop ? null : crypto.createHash('sha256').update(head).update(tail).digest('hex');
      const r = await request('POST', `/api/v1/tickets/${ticket}/attachments?kind=photo`,
        { 'content-type': 'image/png' }, [head, tail]);
      let good = r.status === 201;
      if (good) {
        const j = JSON.parse(r.body.toString('utf8'));
        good = j.size === size && (sha === null || j.sha256 === sha);
      }
      if (good) { ok++; bytes += size; lat.push(r.ms); } else { bad++; noteBad(`upload w${w}`, r); }
      if (!loop || stopped()) break;
    }
  }));
  const ms = Date.now() - t0;
  return { ok, bad, ms, mib_s: rate(bytes / MiB, ms).toFixed(1), per_s: rate(ok, ms).toFixed(2),
    p50: pct(lat, 50).toFixed(0), p99: pct(lat, 99).toFixed(0) };
}

const n = Number(nArg);
const res = mode === 'letters' ? await letters(n, arg3, arg4)
  : mode === 'uploads' ? await uploads(n, Number(arg3), arg4 === 'loop')
  : (() => { throw new Error(`unknown mode ${mode}`); })();
if (firstBad) process.stderr.write(`client: first failure: ${firstBad}\n`);
process.stdout.write(Object.entries(res).map(([k, v]) => `${k}=${v}`).join(' ') + '\n');
agent.destroy();
JS
}

# bench_letters N COUNT: COUNT letters (distinct tickets, continuing after
# the ones used so far) by N clients; the client's line goes to $bench_line.
# The CS token is $cs_token.
bench_letters_next=0
bench_line=""
bench_letters() {
  bench_line=$(BENCH_URL="http://$GSS_LISTEN" BENCH_TOKEN=$cs_token BENCH_IDS_FROM=$bench_letters_next \
    node "$tmp/client.mjs" letters "$1" "$tmp/letter_ids" "$2")
  bench_letters_next=$(kv next "$bench_line")
}

# bench_letters_sweep "N1 N2 ..." COUNT: one row per client count.
bench_letters_sweep() {
  local n line c0 c1 t0 t1
  printf '%-8s %10s %9s %9s %6s %6s %9s\n' clients letters/s p50_ms p99_ms busy bad gssd_cpu
  for n in $1; do
    c0=$(cpu_s "$gpid"); t0=$(date +%s.%N)
    bench_letters "$n" "$2"
    line=$bench_line
    c1=$(cpu_s "$gpid"); t1=$(date +%s.%N)
    printf '%-8s %10s %9s %9s %6s %6s %8.0f%%\n' "$n" "$(kv per_s "$line")" "$(kv p50 "$line")" "$(kv p99 "$line")" \
      "$(kv rejected "$line")" "$(kv bad "$line")" "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN {print 100 * (b - a) / (e - s)}')"
    if [ "$(kv exhausted "$line")" = 1 ]; then echo "(out of distinct tickets: raise BENCH_LETTER_TICKETS)"; fi
  done
}

# ---- render_load.sh on its own -----------------------------------------------

render_load_main() {
  local clients=${BENCH_LETTER_CLIENTS:-1 2 4 8 20}
  local count=${BENCH_LETTER_COUNT:-200}
  local nclients
  nclients=$(wc -w <<<"$clients")
  local ntickets=${BENCH_LETTER_TICKETS:-$(( count * nclients + 50 ))}
  bench_init "${1:-}"
  bench_stores_up
  bench_users 50
  bench_letter_tickets "$ntickets" 50
  bench_gssd_start
  cs_token=$(bench_login bench-cs)
  bench_client
  echo "set-up: $(wc -l < "$tmp/letter_ids") tickets with technicians; render threads ${GSS_RENDER_THREADS:-2}, queue ${GSS_RENDER_QUEUE:-64}; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  # One letter first: fonts loaded, connections open, allocator warm.
  bench_letters 1 1
  local rss0
  rss0=$(rss_kib "$gpid")
  echo "== letters rendered per second, $count distinct tickets per row"
  bench_letters_sweep "$clients" "$count"
  echo "gssd RSS: $(mib_of_kib "$rss0") MiB before, $(mib_of_kib "$(rss_kib "$gpid")") MiB after (letter cache: up to 256 PDFs)"
  curl -s "http://$GSS_LISTEN/metrics" | grep -E '^gss_letter_' || true
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  render_load_main "$@"
fi
