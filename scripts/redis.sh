#!/usr/bin/env bash
# A private Redis for gssd: loopback only, append-only file on, no RDB
# snapshots, everything (AOF, pid, log) inside DIR.
#
#   scripts/redis.sh start  DIR PORT   start unless already running from DIR
#   scripts/redis.sh stop   DIR PORT   shut down (AOF is flushed); fine if not running
#   scripts/redis.sh status DIR PORT   exit 0 when running from DIR, 3 when not
#
# A Redis answering on PORT from another folder is never touched: start
# fails and stop leaves it alone, so two checkouts cannot stop each other's.
set -euo pipefail

die() { echo "redis.sh: $*" >&2; exit 1; }

# The pid in DIR/redis.pid when that process is alive and is a redis-server.
live_pid() {
  local pid
  [ -f "$1/redis.pid" ] || return 1
  pid=$(cat "$1/redis.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

pong() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]; }

# The working folder of whatever Redis answers on PORT, empty if none.
served_dir() {
  redis-cli -h 127.0.0.1 -p "$1" config get dir 2>/dev/null | sed -n 2p
}

cmd_start() {
  local dir=$1 port=$2 _
  [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
  command -v redis-server >/dev/null || die "redis-server not found (run scripts/deps.sh)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  if live_pid "$dir" >/dev/null; then
    pong "$port" || die "a Redis from $dir is running, but not on port $port"
    echo "redis.sh: Redis already running from $dir on 127.0.0.1:$port"
    return 0
  fi
  if pong "$port"; then
    die "port $port already answers as Redis from $(served_dir "$port"), not from $dir"
  fi
  rm -f "$dir/redis.pid"
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --appendonly yes --appendfsync everysec --save ''
  for _ in $(seq 1 100); do
    pong "$port" && { echo "redis.sh: Redis started from $dir on 127.0.0.1:$port"; return 0; }
    sleep 0.1
  done
  echo "redis.sh: Redis did not answer on port $port; last lines of $dir/redis.log:" >&2
  tail -n 20 "$dir/redis.log" >&2 || true
  exit 1
}

cmd_stop() {
  local dir=$1 port=$2 pid _
  [ -d "$dir" ] || { echo "redis.sh: $dir does not exist; nothing to stop"; return 0; }
  dir=$(cd "$dir" && pwd -P)
  if ! pid=$(live_pid "$dir"); then
    echo "redis.sh: Redis not running from $dir"
    return 0
  fi
  # SHUTDOWN NOSAVE still flushes and fsyncs the AOF; only the RDB is skipped.
  if [ "$(served_dir "$port")" = "$dir" ]; then
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { echo "redis.sh: Redis stopped from $dir"; return 0; }
    sleep 0.1
  done
  die "Redis (pid $pid) did not stop within 10 s"
}

case "${1:-}" in
  start)
    [ $# -eq 3 ] || die "usage: $0 start DIR PORT"
    cmd_start "$2" "$3" ;;
  stop)
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then die "usage: $0 stop DIR PORT"; fi
    cmd_stop "$2" "${3:-0}" ;;
  status)
    [ $# -ge 2 ] || die "usage: $0 status DIR PORT"
    if [ -d "$2" ] && live_pid "$(cd "$2" && pwd -P)" >/dev/null; then
      echo "redis.sh: running from $2"; exit 0
    fi
    echo "redis.sh: not running from $2"; exit 3 ;;
  *)
    die "usage: $0 start DIR PORT | stop DIR PORT | status DIR PORT" ;;
esac
