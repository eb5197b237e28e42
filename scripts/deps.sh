#!/usr/bin/env bash
# deps.sh run|test: install the Debian packages Paddock needs to run, and
# with "test" also what its test suite needs. Idempotent and quiet when
# everything is present.
set -euo pipefail
mode=${1:-run}

run_pkgs=(runc runsc mmdebstrap nftables iproute2 e2fsprogs uidmap ca-certificates)
test_pkgs=(postgresql jq curl python3-websocket python3-httpx redis-server nodejs libreoffice-impress-nogui poppler-utils chromium)

pkgs=("${run_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
