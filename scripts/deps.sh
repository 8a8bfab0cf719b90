#!/usr/bin/env bash
# Installs every package gssd needs to build, run and test on Debian 12.
# Idempotent: when everything is present it only checks and returns.
#
# Three libraries are newer in Debian 13 (trixie) than bookworm ships
# (llhttp 9.2, yyjson 0.10, mbedTLS 3.6). We add trixie as a source pinned
# at priority 1 so that nothing else is ever pulled from it, and install those
# three with -t trixie. The archive address is read from the machine's own
# apt sources; no host name is written into the project.
set -euo pipefail

BOOKWORM_PKGS=(
  build-essential cmake pkg-config git ca-certificates curl
  libuv1-dev libhiredis-dev libpq-dev libcurl4-openssl-dev libhpdf-dev
  libqrencode-dev libargon2-dev libcmocka-dev
  fonts-liberation2
  redis-server redis-tools postgresql postgresql-client
)
TRIXIE_PKGS=(libllhttp-dev libyyjson-dev libmbedtls-dev)
# Extra packages only the test/bench side needs.
TEST_PKGS=(nodejs npm chromium wrk nginx-light procps psmisc clang libclang-rt-14-dev
  qpdf poppler-utils zbar-tools)

want=("${BOOKWORM_PKGS[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${TEST_PKGS[@]}"); fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${want[@]}" "${TRIXIE_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# mbedTLS must be 3.x: bookworm's 2.28 is installed under the same name.
if dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null | grep -q '^2\.'; then
  missing+=(libmbedtls-dev)
fi
# node may come from elsewhere (nodesource) on dev machines: then it's fine.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2

export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/debian.sources
uri=""
if [ -f "$src" ]; then
  uri=$(awk '/^URIs:/{print $2; exit}' "$src")
elif [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "deps: cannot find the Debian archive in apt sources" >&2; exit 1; }

if [ ! -f /etc/apt/sources.list.d/gss-trixie.sources ]; then
  $SUDO tee /etc/apt/sources.list.d/gss-trixie.sources >/dev/null <<S
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
S
  $SUDO tee /etc/apt/preferences.d/gss-trixie >/dev/null <<P
Package: *
Pin: release n=trixie
Pin-Priority: 1
P
fi
$SUDO apt-get update -qq
bw=()
for p in "${missing[@]}"; do
  case " ${TRIXIE_PKGS[*]} " in *" $p "*) ;; *) bw+=("$p") ;; esac
done
[ ${#bw[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${bw[@]}"
$SUDO apt-get install -y -qq --no-install-recommends -t trixie "${TRIXIE_PKGS[@]}"
