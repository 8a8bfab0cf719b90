#!/usr/bin/env bash
# Builds gssd and runs it with its own Redis and PostgreSQL, data kept under
# var/ (git-ignored), everything on 127.0.0.1. Ctrl-C stops what it started.
# Safe to run again: data stays, migrations and demo seeding are idempotent.
#
# Ports (environment): GSS_RUN_HTTP_PORT (8080), GSS_RUN_REDIS_PORT (6390),
# GSS_RUN_PG_PORT (5440). Any other GSS_* variable is passed on to gssd.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

HTTP_PORT=${GSS_RUN_HTTP_PORT:-8080}
REDIS_PORT=${GSS_RUN_REDIS_PORT:-6390}
PG_PORT=${GSS_RUN_PG_PORT:-5440}
VAR=$ROOT/var
BUILD=$ROOT/build/run
GSSD=$BUILD/gssd
DEMO_PASSWORD=gss12345
# username|role|name, created only when missing.
DEMO_USERS=(
  "admin|admin|Admin GSS"
  "cs1|cs|Citra CS"
  "sales1|sales|Santo Sales"
  "ts1|ts|Teguh Teknisi"
  "ts2|ts|Tono Teknisi"
  "ts3|ts|Tari Teknisi"
  "ts4|ts|Śantoso Wijaya"
)

say() { printf 'run.sh: %s\n' "$*"; }

# Checked first so that a second copy fails before it builds or starts anything.
if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then
  say "something already listens on 127.0.0.1:$HTTP_PORT; stop it or set GSS_RUN_HTTP_PORT" >&2
  exit 1
fi

scripts/deps.sh

say "building gssd (RelWithDebInfo) in build/run"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

# What this run started and must therefore stop; a service that was already
# running (another run.sh in a second terminal) is left alone.
started_redis=0
started_pg=0
gssd_pid=""

# shellcheck disable=SC2317  # reached through the traps below
cleanup() {
  local rc=$? _
  trap - EXIT INT TERM HUP
  if [ -n "$gssd_pid" ] && kill -0 "$gssd_pid" 2>/dev/null; then
    say "stopping gssd"
    kill -TERM "$gssd_pid" 2>/dev/null || true
    # gssd drains connections for up to GSS_SHUTDOWN_TIMEOUT_MS (10 s);
    # give it that plus 5 s before a hard kill.
    for _ in $(seq 1 $(( ${GSS_SHUTDOWN_TIMEOUT_MS:-10000} / 100 + 50 ))); do kill -0 "$gssd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$gssd_pid" 2>/dev/null || true
    wait "$gssd_pid" 2>/dev/null || true
  fi
  if [ "$started_redis" = 1 ]; then scripts/redis.sh stop "$VAR/redis" "$REDIS_PORT" || true; fi
  if [ "$started_pg" = 1 ]; then scripts/pg.sh stop "$VAR/pg" || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$VAR" "$VAR/uploads"

# The customer's invoice and rating links are derived from GSS_LINK_KEY
# (docs/money.md): one key kept in var/link.key (mode 600), so that links
# sent before a restart still open after it.
if [ -z "${GSS_LINK_KEY:-}" ]; then
  if [ ! -s "$VAR/link.key" ]; then
    say "making a link key in var/link.key"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/link.key")
  fi
  GSS_LINK_KEY=$(cat "$VAR/link.key")
fi
export GSS_LINK_KEY

if scripts/redis.sh status "$VAR/redis" "$REDIS_PORT" >/dev/null; then
  say "Redis from var/redis is already running; leaving it as it is"
else
  started_redis=1
  scripts/redis.sh start "$VAR/redis" "$REDIS_PORT"
fi
if scripts/pg.sh status "$VAR/pg" >/dev/null; then
  say "PostgreSQL from var/pg is already running; leaving it as it is"
else
  started_pg=1
fi
scripts/pg.sh start "$VAR/pg" "$PG_PORT"

export GSS_LISTEN="127.0.0.1:$HTTP_PORT"
export GSS_DATABASE_URL="postgresql://gss@127.0.0.1:$PG_PORT/gss"
export GSS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export GSS_PUBLIC_URL="${GSS_PUBLIC_URL:-http://127.0.0.1:$HTTP_PORT}"
export GSS_WEB_DIR="${GSS_WEB_DIR:-$ROOT/web}"
export GSS_UPLOAD_DIR="${GSS_UPLOAD_DIR:-$VAR/uploads}"

say "applying migrations"
"$GSSD" migrate

PSQL=("$(scripts/pg.sh bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U gss -d gss)

for u in "${DEMO_USERS[@]}"; do
  IFS='|' read -r login role name <<<"$u"
  if [ "$("${PSQL[@]}" -tA -v u="$login" <<<"SELECT 1 FROM users WHERE username = :'u'")" != "1" ]; then
    say "creating demo user $login ($role)"
    printf '%s\n' "$DEMO_PASSWORD" | "$GSSD" user add "$login" --role "$role" --name "$name"
  fi
done
say "seeding demo customers and tickets (db/seed/demo.sql)"
"${PSQL[@]}" -f db/seed/demo.sql
# Every open ticket's job on the board (idempotent). Not behind a
# `gssd --help | grep -q` test: with pipefail, grep quitting early made
# gssd die of SIGPIPE and the pool stayed empty.
say "rebuilding the Redis pool from PostgreSQL"
"$GSSD" rebuild-pool

# Its own session, so that Ctrl-C reaches only this script, and gssd gets
# exactly one SIGTERM from cleanup rather than SIGINT and SIGTERM at once.
setsid "$GSSD" serve </dev/null &
gssd_pid=$!

for _ in $(seq 1 100); do
  kill -0 "$gssd_pid" 2>/dev/null || break
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null && break
  sleep 0.1
done
kill -0 "$gssd_pid" 2>/dev/null && cat <<EOF

  GSS is running:  $GSS_PUBLIC_URL/
  (gssd on 127.0.0.1:$HTTP_PORT, Redis 127.0.0.1:$REDIS_PORT, PostgreSQL 127.0.0.1:$PG_PORT, data in var/)

  Demo logins (password for all: $DEMO_PASSWORD)
    admin    admin   Admin GSS
    cs1      cs      Citra CS
    sales1   sales   Santo Sales
    ts1      ts      Teguh Teknisi
    ts2      ts      Tono Teknisi
    ts3      ts      Tari Teknisi
    ts4      ts      Śantoso Wijaya

  Today: an open job within the hour, one claimed by ts1 (Job Saya, Surat
  Tugas, check-in), one where ts2 has checked in (CS: Tiket, detail).

  Press Ctrl-C to stop gssd, Redis and PostgreSQL.

EOF

set +e
wait "$gssd_pid"
rc=$?
set -e
gssd_pid=""
say "gssd exited with status $rc"
exit "$rc"
