#!/usr/bin/env bash
# A private PostgreSQL cluster for gssd: one data folder, loopback TCP only,
# superuser `gss` with trust auth, database `gss`.
#
#   scripts/pg.sh start  DATADIR PORT   initdb if needed, start, create db gss
#   scripts/pg.sh stop   DATADIR        fast shutdown; fine if not running
#   scripts/pg.sh status DATADIR        exit 0 when running, 3 when not
#   scripts/pg.sh bindir                print the PostgreSQL bin folder used
#
# GSS_PG_FAST=1 turns off fsync, synchronous_commit and full_page_writes:
# for throwaway test clusters only (a crash can lose or corrupt data).
#
# PostgreSQL refuses to run as root. When this script runs as root it runs
# the server as the unprivileged system user `gssdb` (created if missing);
# otherwise as the calling user. The server binaries come from the highest
# /usr/lib/postgresql/<major>/bin, never from PATH, because PATH may hold
# wrappers or another build (e.g. /usr/local/bin/pg_ctl on dev machines).
set -euo pipefail

PG_USER=gssdb

die() { echo "pg.sh: $*" >&2; exit 1; }

pg_bindir() {
  local best="" v
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] || continue
    v=${d#/usr/lib/postgresql/}; v=${v%/bin}
    # Major versions are integers since 10; keep the highest.
    if [ -z "$best" ] || [ "${v%%.*}" -gt "${best%%.*}" ] 2>/dev/null; then best=$v; fi
  done
  [ -n "$best" ] || die "no PostgreSQL server found under /usr/lib/postgresql (run scripts/deps.sh)"
  echo "/usr/lib/postgresql/$best/bin"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as the cluster's owner. From / so that a working folder the
# owner cannot enter (a clone under /root) does not trouble initdb or pg_ctl.
as_owner() {
  if is_root; then
    (cd / && runuser -u "$PG_USER" -- "$@")
  else
    (cd / && "$@")
  fi
}

ensure_user() {
  is_root || return 0
  getent passwd "$PG_USER" >/dev/null && return 0
  echo "pg.sh: creating system user $PG_USER to run PostgreSQL (it refuses to run as root)" >&2
  # Two pg.sh started at once (parallel tests) may race here: the loser's
  # useradd fails on the lock or on the existing name, which is fine.
  local _
  for _ in 1 2 3 4 5; do
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" 2>/dev/null && return 0
    getent passwd "$PG_USER" >/dev/null && return 0
    sleep 1
  done
  die "could not create user $PG_USER"
}

# The owner must be able to walk down to DATADIR. A clone under /root (mode
# 0700) blocks that, so we grant search (x) permission only, never read, on
# each ancestor that lacks it: with an ACL entry for gssdb alone when setfacl
# exists, else with o+x. Either way nobody gains the right to list those
# folders, and the change is printed so that it is never a surprise.
ensure_reachable() {
  local dir=$1 parent d
  is_root || return 0
  parent=$(dirname "$dir")
  as_owner test -x "$parent" 2>/dev/null && return 0
  local chain=() p=$parent
  while [ "$p" != "/" ]; do chain=("$p" "${chain[@]}"); p=$(dirname "$p"); done
  for d in "${chain[@]}"; do
    as_owner test -x "$d" 2>/dev/null && continue
    if command -v setfacl >/dev/null 2>&1; then
      echo "pg.sh: notice: granting $PG_USER search access (ACL u:$PG_USER:x) on $d so PostgreSQL can reach its data" >&2
      setfacl -m "u:$PG_USER:x" "$d"
    else
      echo "pg.sh: notice: adding o+x (search only, not list) on $d so PostgreSQL (user $PG_USER) can reach its data" >&2
      chmod o+x "$d"
    fi
  done
  as_owner test -x "$parent" || die "user $PG_USER still cannot reach $parent"
}

is_running() {
  [ -f "$1/PG_VERSION" ] || return 1
  as_owner "$BIN/pg_ctl" status -D "$1" >/dev/null 2>&1
}

# Settings we own live in gss.conf, rewritten at every start so that a new
# port or GSS_PG_FAST takes effect; postgresql.conf only includes it.
write_conf() {
  local dir=$1 port=$2
  local sock=$dir
  # A Unix socket path is limited to 107 bytes; deep folders get TCP only.
  if [ $(( ${#dir} + 20 )) -gt 107 ]; then sock=""; fi
  {
    echo "# Written by scripts/pg.sh at every start; edit that script instead."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$sock'"
    echo "max_connections = 200"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
    if [ "${GSS_PG_FAST:-0}" = "1" ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_owner tee "$dir/gss.conf" >/dev/null
  grep -q "^include_if_exists = 'gss.conf'" "$dir/postgresql.conf" ||
    echo "include_if_exists = 'gss.conf'" | as_owner tee -a "$dir/postgresql.conf" >/dev/null
  # Only loopback TCP, and trust there: the cluster is private to this host.
  {
    echo "# Written by scripts/pg.sh: loopback TCP only, trust."
    echo "# TYPE  DATABASE  USER  ADDRESS       METHOD"
    echo "host    all       all   127.0.0.1/32  trust"
  } | as_owner tee "$dir/pg_hba.conf" >/dev/null
}

do_initdb() {
  local dir=$1 out loc=(--no-locale)
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then loc=(--locale=C.UTF-8); fi
  echo "pg.sh: initdb $dir" >&2
  out=$(as_owner "$BIN/initdb" -D "$dir" -U gss --auth=trust -E UTF8 "${loc[@]}" 2>&1) || {
    echo "$out" >&2
    die "initdb failed"
  }
}

cmd_start() {
  local dir=$1 port=$2
  [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
  mkdir -p "$dir"
  ensure_user
  ensure_reachable "$dir"
  if is_root; then chown "$PG_USER:" "$dir"; fi
  chmod 0700 "$dir"
  if is_running "$dir"; then
    local cur
    cur=$(sed -n 4p "$dir/postmaster.pid" 2>/dev/null || true)
    echo "pg.sh: PostgreSQL already running in $dir (port ${cur:-?})"
    [ -z "$cur" ] || [ "$cur" = "$port" ] || echo "pg.sh: warning: it listens on $cur, not $port" >&2
    port=${cur:-$port}
  else
    if [ ! -f "$dir/PG_VERSION" ]; then do_initdb "$dir"; fi
    write_conf "$dir" "$port"
    if ! as_owner "$BIN/pg_ctl" -D "$dir" -l "$dir/log" -w -t 60 -s start; then
      echo "pg.sh: PostgreSQL did not start; last lines of $dir/log:" >&2
      tail -n 20 "$dir/log" >&2 || true
      exit 1
    fi
    echo "pg.sh: PostgreSQL started in $dir on 127.0.0.1:$port"
  fi
  # Connect as the calling user over TCP: trust auth makes that work for
  # root too, and no client needs access to the socket folder.
  local psql=("$BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U gss -d postgres -v ON_ERROR_STOP=1)
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'gss'")" != "1" ]; then
    "${psql[@]}" -c "CREATE DATABASE gss OWNER gss" >/dev/null
    echo "pg.sh: created database gss"
  fi
}

cmd_stop() {
  local dir=$1
  [ -d "$dir" ] || { echo "pg.sh: $dir does not exist; nothing to stop"; return 0; }
  if ! is_running "$dir"; then
    echo "pg.sh: PostgreSQL not running in $dir"
    return 0
  fi
  as_owner "$BIN/pg_ctl" -D "$dir" -m fast -w -t 60 -s stop
  echo "pg.sh: PostgreSQL stopped in $dir"
}

# Absolute paths throughout: the server commands run from / (see as_owner).
abspath() { realpath -m -- "$1"; }

cmd=${1:-}
case "$cmd" in
  start)
    [ $# -eq 3 ] || die "usage: $0 start DATADIR PORT"
    BIN=$(pg_bindir); cmd_start "$(abspath "$2")" "$3" ;;
  stop)
    [ $# -eq 2 ] || die "usage: $0 stop DATADIR"
    BIN=$(pg_bindir); cmd_stop "$(abspath "$2")" ;;
  status)
    [ $# -eq 2 ] || die "usage: $0 status DATADIR"
    BIN=$(pg_bindir)
    if is_running "$(abspath "$2")"; then echo "pg.sh: running in $2"; exit 0; fi
    echo "pg.sh: not running in $2"; exit 3 ;;
  bindir)
    pg_bindir ;;
  *)
    die "usage: $0 start DATADIR PORT | stop DATADIR | status DATADIR | bindir" ;;
esac
