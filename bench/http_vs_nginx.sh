#!/usr/bin/env bash
# The HTTP baseline: wrk -t1 -c64 -d10s against gssd's /healthz and against
# Debian's nginx (one worker: the single-core reference) serving a 2-byte
# static file with keep-alive, on this machine, in one run, with the ratio.
# Both servers write an access log (gssd's JSON line per request; nginx's
# combined format), each to a file in the temp folder.
#
# Usage: bench/http_vs_nginx.sh [build dir, default build/bench]
# Needs: wrk, nginx (scripts/deps.sh --test installs them). Binds loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/bench}
dur=${BENCH_DURATION:-10s}
conns=${BENCH_CONNS:-64}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSS_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
tmp=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  [ -n "${gpid:-}" ] && kill "$gpid" 2>/dev/null || true
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  sleep 0.2; rm -rf "$tmp"
}
trap cleanup EXIT

gport=$(free_port)
# gssd with no Redis/PostgreSQL reachable still serves /healthz: the baseline
# measures the HTTP path alone.
GSS_LISTEN=127.0.0.1:$gport GSS_REDIS_URL=redis://127.0.0.1:1/0 \
  GSS_DATABASE_URL=postgresql://gss@127.0.0.1:1/gss GSS_WEB_DIR="$tmp" \
  "$build/gssd" serve 2>"$tmp/gssd.log" &
gpid=$!

nport=$(free_port)
mkdir -p "$tmp/www"; printf 'ok' > "$tmp/www/ok.txt"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $tmp/nginx-access.log;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$nport; root $tmp/www; }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp"
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$gport/healthz" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$nport/ok.txt" >/dev/null 2>&1 && break
  sleep 0.1
done

rps() { awk '/Requests\/sec/ {print $2}'; }
echo "== gssd /healthz"; g=$(wrk -t1 -c"$conns" -d"$dur" --latency "http://127.0.0.1:$gport/healthz" | tee /dev/stderr | rps)
echo "== nginx 2-byte file"; n=$(wrk -t1 -c"$conns" -d"$dur" --latency "http://127.0.0.1:$nport/ok.txt" | tee /dev/stderr | rps)
awk -v g="$g" -v n="$n" 'BEGIN { printf "gssd %.0f req/s, nginx %.0f req/s, ratio gssd/nginx %.2f\n", g, n, g / n }'
