#!/usr/bin/env bash
# The HTTP baseline: wrk -t1 -c64 -d10s against gssd's /healthz and against
# Debian's nginx (one worker: the single-core reference) serving the same
# answer from a file, with keep-alive, on this machine, in one run, with the
# ratio. Both servers write an access log (gssd's JSON line per request;
# nginx's combined format), each to a file in the temp folder.
#
# Same answer on both sides: GET /healthz, 200, Content-Type
# application/json, Cache-Control no-store, body {"status":"ok"} (15 bytes).
# The script checks both before measuring and refuses to print a ratio when
# either wrk run saw a non-2xx/3xx answer or a socket error: a ratio against
# an error page measures nothing. (It did once: mktemp -d makes a 0700
# folder, and as root nginx's worker runs as `nobody`, so every file answer
# was 403 while the readiness loop below gave up silently.)
#
# Usage: bench/http_vs_nginx.sh [build dir, default build/bench]
#   BENCH_NO_BUILD=1: use the build dir's gssd without building
#   BENCH_DURATION (10s), BENCH_CONNS (64)
# Needs: wrk, nginx (scripts/deps.sh --test installs them). Binds loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/bench}
dur=${BENCH_DURATION:-10s}
conns=${BENCH_CONNS:-64}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSS_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" >/dev/null
fi
tmp=$(mktemp -d /tmp/gss-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  [ -n "${gpid:-}" ] && kill "$gpid" 2>/dev/null || true
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  sleep 0.2; rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "http_vs_nginx: $*" >&2; exit 1; }

gport=$(free_port)
# gssd with no Redis/PostgreSQL reachable still serves /healthz: the baseline
# measures the HTTP path alone.
GSS_LISTEN=127.0.0.1:$gport GSS_REDIS_URL=redis://127.0.0.1:1/0 \
  GSS_DATABASE_URL=postgresql://gss@127.0.0.1:1/gss GSS_WEB_DIR="$tmp" \
  "$build/gssd" serve 2>"$tmp/gssd.log" &
gpid=$!

nport=$(free_port)
# nginx's worker must read the file: as root it runs as `nobody`, so the
# folders on the way and the file are world-readable (mktemp's is 0700).
chmod 0755 "$tmp"
mkdir -p "$tmp/www"
printf '{"status":"ok"}' > "$tmp/www/healthz"
chmod 0755 "$tmp/www"; chmod 0644 "$tmp/www/healthz"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $tmp/nginx-access.log;
  keepalive_requests 1000000;
  server_tokens off;
  etag off;
  server {
    listen 127.0.0.1:$nport;
    root $tmp/www;
    location = /healthz { default_type application/json; add_header Cache-Control no-store; }
  }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp"

# Both up and answering 200 with the same body, or stop here.
ready=
for _ in $(seq 50); do
  if curl -sf "http://127.0.0.1:$gport/healthz" >/dev/null 2>&1 &&
     curl -sf "http://127.0.0.1:$nport/healthz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "gssd: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gport/healthz")," \
    "nginx: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nport/healthz")" >&2
  tail -n 5 "$tmp/nginx-error.log" "$tmp/gssd.log" >&2 || true
  die "a server does not answer 200 on /healthz"
fi
gbody=$(curl -s "http://127.0.0.1:$gport/healthz"); nbody=$(curl -s "http://127.0.0.1:$nport/healthz")
[ "$gbody" = "$nbody" ] || die "bodies differ: gssd '$gbody', nginx '$nbody'"
gtype=$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$gport/healthz")
ntype=$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$nport/healthz")
echo "both answer 200 $gbody (gssd $gtype, nginx $ntype);" \
  "response bytes: gssd $(curl -s -D - -o /dev/null "http://127.0.0.1:$gport/healthz" | wc -c)+${#gbody}," \
  "nginx $(curl -s -D - -o /dev/null "http://127.0.0.1:$nport/healthz" | wc -c)+${#nbody}"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME URL: one wrk run, its output in $tmp/NAME.wrk and on stderr.
run() {
  wrk -t1 -c"$conns" -d"$dur" --latency "$2" > "$tmp/$1.wrk"
  cat "$tmp/$1.wrk" >&2
}
# bad NAME: the count of non-2xx/3xx answers plus socket errors of a run.
bad() {
  awk '/Non-2xx or 3xx responses:/ {n += $NF}
       /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
       END {print n + 0}' "$tmp/$1.wrk"
}
rps() { awk '/Requests\/sec/ {print $2}' "$tmp/$1.wrk"; }
echo "== gssd /healthz"; run gssd "http://127.0.0.1:$gport/healthz"
echo "== nginx /healthz (file)"; run nginx "http://127.0.0.1:$nport/healthz"
gb=$(bad gssd); nb=$(bad nginx)
if [ "$gb" != 0 ] || [ "$nb" != 0 ]; then
  die "no ratio: non-2xx answers or socket errors (gssd $gb, nginx $nb); see above"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v g="$(rps gssd)" -v n="$(rps nginx)" \
  'BEGIN { printf "gssd %.0f req/s, nginx %.0f req/s, ratio gssd/nginx %.2f (every answer 200 on both)\n", g, n, g / n }'
