#!/usr/bin/env bash
# Builds gssd and runs it with its own Redis and PostgreSQL, data kept under
# var/ (git-ignored), everything on 127.0.0.1. Ctrl-C stops what it started.
# Safe to run again: data stays, migrations and demo seeding are idempotent.
#
# Ports (environment): GSS_RUN_HTTP_PORT (8080), GSS_RUN_REDIS_PORT (6390),
# GSS_RUN_PG_PORT (5440). GSS_RUN_VAR (var) is the data folder and
# GSS_RUN_BUILD (build/run) the build folder, for a second copy beside the
# first. Any other GSS_* variable is passed on to gssd.
#
# GSS_RUN_FAKES=1 also starts the fake Telegram and WhatsApp servers of the
# tests (tests/fakes/serve.mjs, node) on 127.0.0.1: GSS_RUN_FAKES_PORT (8090)
# is their control server (a customer writes, a technician links Telegram),
# the Telegram fake listens on the next port and the WhatsApp fake on the one
# after. gssd is pointed at them, so messages really leave and come back.
# Without it both channels are off (their messages wait, saying why).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

HTTP_PORT=${GSS_RUN_HTTP_PORT:-8080}
REDIS_PORT=${GSS_RUN_REDIS_PORT:-6390}
PG_PORT=${GSS_RUN_PG_PORT:-5440}
VAR=${GSS_RUN_VAR:-$ROOT/var}
BUILD=${GSS_RUN_BUILD:-$ROOT/build/run}
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd -P)
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
FAKES=${GSS_RUN_FAKES:-0}
# The two folders as messages name them: relative to the project when inside it.
VAR_SHOW=${VAR#"$ROOT"/}
BUILD_SHOW=${BUILD#"$ROOT"/}
FAKES_PORT=${GSS_RUN_FAKES_PORT:-8090}
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
if [ "$FAKES" = 1 ]; then
  for p in "$FAKES_PORT" $((FAKES_PORT + 1)) $((FAKES_PORT + 2)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      say "something already listens on 127.0.0.1:$p; stop it or set GSS_RUN_FAKES_PORT" >&2
      exit 1
    fi
  done
fi

scripts/deps.sh
if [ "$FAKES" = 1 ] && ! command -v node >/dev/null; then
  say "GSS_RUN_FAKES=1 needs node: installing the Debian package nodejs"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq --no-install-recommends nodejs
  else sudo apt-get install -y -qq --no-install-recommends nodejs; fi
fi

say "building gssd (RelWithDebInfo) in $BUILD_SHOW"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

# What this run started and must therefore stop; a service that was already
# running (another run.sh in a second terminal) is left alone.
started_redis=0
started_pg=0
gssd_pid=""
fakes_pid=""

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
  if [ -n "$fakes_pid" ] && kill -0 "$fakes_pid" 2>/dev/null; then
    say "stopping the fakes"
    kill -TERM "$fakes_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$fakes_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$fakes_pid" 2>/dev/null || true
    wait "$fakes_pid" 2>/dev/null || true
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
    say "making a link key in $VAR_SHOW/link.key"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/link.key")
  fi
  GSS_LINK_KEY=$(cat "$VAR/link.key")
fi
export GSS_LINK_KEY

if scripts/redis.sh status "$VAR/redis" "$REDIS_PORT" >/dev/null; then
  say "Redis from $VAR_SHOW/redis is already running; leaving it as it is"
else
  started_redis=1
  scripts/redis.sh start "$VAR/redis" "$REDIS_PORT"
fi
if scripts/pg.sh status "$VAR/pg" >/dev/null; then
  say "PostgreSQL from $VAR_SHOW/pg is already running; leaving it as it is"
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

if [ "$FAKES" = 1 ]; then
  # Made-up credentials, the same for gssd and the fakes (serve.mjs reads
  # these variables); the chat id is a supergroup's, like a real group's.
  export GSS_TELEGRAM_TOKEN="7000000001:AAdemo-fake-telegram-token"
  export GSS_TELEGRAM_API_BASE="http://127.0.0.1:$((FAKES_PORT + 1))"
  export GSS_TELEGRAM_BOT_USERNAME="gss_demo_bot"
  export GSS_TELEGRAM_TS_CHAT="-1001234567890"
  export GSS_TELEGRAM_WEBHOOK_SECRET="demo-telegram-webhook-secret"
  export GSS_WA_TOKEN="EAAdemo-fake-whatsapp-token"
  export GSS_WA_API_BASE="http://127.0.0.1:$((FAKES_PORT + 2))/v21.0"
  export GSS_WA_PHONE_NUMBER_ID="109876543210987"
  export GSS_WA_APP_SECRET="demo-whatsapp-app-secret"
  export GSS_WA_VERIFY_TOKEN="demo-whatsapp-verify-token"
fi

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
# The customer's photo in the inbox: its bytes go where the seeded
# attachment row says, under the upload folder, as gssd stores photos.
PHOTO=db/seed/demo-photo.jpg
PHOTO_SHA=$(sha256sum "$PHOTO" | cut -d' ' -f1)
"${PSQL[@]}" -v demo_photo="$PHOTO_SHA $(stat -c %s "$PHOTO")" -f db/seed/demo.sql
while IFS= read -r rel; do
  if [ -z "$rel" ] || [ -e "$GSS_UPLOAD_DIR/$rel" ]; then continue; fi
  mkdir -p "$(dirname "$GSS_UPLOAD_DIR/$rel")"
  install -m 640 "$PHOTO" "$GSS_UPLOAD_DIR/$rel"
done < <("${PSQL[@]}" -tA -v sha="$PHOTO_SHA" <<<"SELECT path FROM attachments WHERE kind = 'wa_photo' AND sha256 = :'sha'")
# Every open ticket's job on the board (idempotent). Not behind a
# `gssd --help | grep -q` test: with pipefail, grep quitting early made
# gssd die of SIGPIPE and the pool stayed empty.
say "rebuilding the Redis pool from PostgreSQL"
"$GSSD" rebuild-pool

if [ "$FAKES" = 1 ]; then
  # The WhatsApp fake refuses free-form messages outside the 24-hour window
  # as Meta does; it learns when the demo customers last wrote.
  windows=()
  while IFS= read -r w; do [ -z "$w" ] || windows+=(--window "$w"); done < <("${PSQL[@]}" -tA <<<"
    SELECT phone || '=' || extract(epoch FROM last_inbound_at)::bigint FROM customers
    WHERE phone IS NOT NULL AND last_inbound_at > now() - interval '24 hours'")
  rm -f "$VAR/fakes.json"
  # Its own session too, stopped by cleanup like gssd.
  setsid node tests/fakes/serve.mjs --gssd "http://127.0.0.1:$HTTP_PORT" --port "$FAKES_PORT" \
    --photo "$PHOTO" --info "$VAR/fakes.json" "${windows[@]+"${windows[@]}"}" </dev/null &
  fakes_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$VAR/fakes.json" ] && break
    kill -0 "$fakes_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$VAR/fakes.json" ]; then
    say "the fakes did not start (tests/fakes/serve.mjs)" >&2
    exit 1
  fi
fi

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
  (gssd on 127.0.0.1:$HTTP_PORT, Redis 127.0.0.1:$REDIS_PORT, PostgreSQL 127.0.0.1:$PG_PORT, data in $VAR_SHOW)

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

  Inbox (cs1): WhatsApp conversations, one with a photo, one whose window
  has closed, one answered, one whose reply failed.

EOF
if kill -0 "$gssd_pid" 2>/dev/null; then
  if [ "$FAKES" = 1 ]; then cat <<EOF
  Fake Telegram and WhatsApp are on (GSS_RUN_FAKES=1): what gssd sends is
  printed as "fakes: ..." lines. A customer writes on WhatsApp:

    curl -s 127.0.0.1:$FAKES_PORT/wa/text -d '{"from":"6281211110009","name":"Yusuf Hidayat","body":"Jadi bisa datang jam 3?"}'

  (/wa/photo with "caption" sends the demo photo; GET /sent lists what was
  sent; tests/fakes/serve.mjs has the rest.)

EOF
  else cat <<EOF
  Telegram and WhatsApp are off: messages wait in the outbox, and the
  ticket's "Pesan" and the inbox say so. GSS_RUN_FAKES=1 runs fake ones.

EOF
  fi
  printf '  Press Ctrl-C to stop gssd, Redis and PostgreSQL%s.\n\n' "$([ "$FAKES" = 1 ] && echo ', and the fakes')"
fi

set +e
wait "$gssd_pid"
rc=$?
set -e
gssd_pid=""
say "gssd exited with status $rc"
exit "$rc"
