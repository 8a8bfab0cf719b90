#!/usr/bin/env bash
# Builds two trees and runs every test in both:
#   build/test   warnings as errors
#   build/asan   warnings as errors + AddressSanitizer/UBSan (leaks fatal)
# against one throwaway PostgreSQL cluster on a free loopback port, in a
# mktemp folder that is removed at the end (also on failure or Ctrl-C).
#
# Environment given to the tests:
#   GSS_TEST_PG_URL   postgresql://gss@127.0.0.1:PORT  (superuser, trust;
#                     each test creates its own databases)
#   GSS_TEST_PG_PORT  that PORT
#   GSS_TEST_TMP      the temp folder; tests may create subfolders in it
#   GSS_PG_SH, GSS_REDIS_SH  absolute paths of scripts/pg.sh and
#                     scripts/redis.sh, for tests that start private instances
#
# The last line printed is "N passed, N failed", summed over both ctest runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
JOBS=$(nproc)

say() { printf 'test.sh: %s\n' "$*" >&2; }

scripts/deps.sh --test

if [ -f tests/package.json ]; then
  say "installing the integration tests' node modules"
  if [ -f tests/package-lock.json ]; then
    (cd tests && npm ci --no-audit --no-fund)
  else
    (cd tests && npm install --no-audit --no-fund)
  fi
fi

say "building build/test"
cmake -S . -B build/test -DGSS_WERROR=ON >/dev/null
cmake --build build/test -j"$JOBS"
say "building build/asan"
cmake -S . -B build/asan -DGSS_WERROR=ON -DGSS_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$JOBS"
# The libFuzzer targets (clang): in this run each fuzzer gets a short smoke
# run from its seeds (ctest fuzz/*); long runs are for developers.
say "building build/fuzz"
CC=clang cmake -S . -B build/fuzz -DGSS_WERROR=ON -DGSS_FUZZ=ON >/dev/null
cmake --build build/fuzz -j"$JOBS" --target fuzz_ws_frame fuzz_http_parse

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gss-test.XXXXXX")
# pg.sh runs the server as user gssdb when we are root; it must be able to
# enter (not list) this folder, which mktemp creates as 0700.
chmod 0711 "$TMP"
PGDATA_DIR=$TMP/pg

cleanup() {
  local f d
  [ -n "${TMP:-}" ] && [ -d "$TMP" ] || return 0
  # Our cluster, then anything a test started under GSS_TEST_TMP and left
  # running (a crashed test), so that no server outlives this script.
  while IFS= read -r f; do
    d=$(dirname "$f")
    [ "$d" = "$PGDATA_DIR" ] || say "stopping PostgreSQL left running in $d"
    scripts/pg.sh stop "$d" >/dev/null || true
  done < <(find "$TMP" -name postmaster.pid 2>/dev/null)
  while IFS= read -r f; do
    d=$(dirname "$f")
    say "stopping Redis left running in $d"
    scripts/redis.sh stop "$d" >/dev/null || true
  done < <(find "$TMP" -name redis.pid 2>/dev/null)
  rm -rf "$TMP"
  TMP=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A port nobody listens on; PostgreSQL's own bind is the real test, so a
# port taken between the check and the start just means trying another.
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 12000 ))   # below the ephemeral range
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
PG_PORT=""
for attempt in 1 2 3 4 5; do
  p=$(free_port)
  if GSS_PG_FAST=1 scripts/pg.sh start "$PGDATA_DIR" "$p" >&2; then PG_PORT=$p; break; fi
  say "could not start PostgreSQL on port $p (attempt $attempt)"
done
[ -n "$PG_PORT" ] || { say "giving up: PostgreSQL would not start"; exit 1; }

export GSS_TEST_PG_URL="postgresql://gss@127.0.0.1:$PG_PORT"
export GSS_TEST_PG_PORT=$PG_PORT
export GSS_TEST_TMP=$TMP
export GSS_PG_SH=$ROOT/scripts/pg.sh
export GSS_REDIS_SH=$ROOT/scripts/redis.sh

total_passed=0
total_failed=0
status=0

# Runs ctest in one tree and adds its summary line to the totals. A run that
# prints no summary (ctest itself failed) counts as one failed test, so the
# totals never claim success for tests that did not run.
run_ctest() {
  local tree=$1 log=$TMP/ctest-$1.log rc line failed total flaky
  shift
  say "running the tests in build/$tree"
  set +e
  # A test that fails is run once more (--repeat until-pass:2): the
  # integration tests race real servers on a shared 2-core machine, and one
  # timing hiccup should not sink a run. A broken feature fails both times;
  # a test that needed the second try is listed at the end so flakes stay
  # visible and get fixed.
  env "$@" ctest --test-dir "build/$tree" --output-on-failure -j2 --repeat until-pass:2 \
    ${CTEST_SELECT:+-R "$CTEST_SELECT"} 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ]; then
    flaky=$(grep -oE 'Test +#[0-9]+: [^ ]+ \.+\*\*\*Failed' "$log" | awk '{print $3}' | sort -u | tr '\n' ' ' || true)
    [ -z "$flaky" ] || say "needed a second run in build/$tree (flaky, fix them): $flaky"
  fi
  line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=${BASH_REMATCH[1]}
    total=${BASH_REMATCH[2]}
  elif [ "$rc" -eq 0 ]; then
    failed=0; total=0   # "No tests were found"
  else
    failed=1; total=1
  fi
  total_passed=$(( total_passed + total - failed ))
  total_failed=$(( total_failed + failed ))
  [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] || status=1
}

run_ctest test
run_ctest asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
CTEST_SELECT='^fuzz/' run_ctest fuzz

# Stop PostgreSQL now, quietly, so that the summary below is the last line.
cleanup
echo "$total_passed passed, $total_failed failed"
exit "$status"
