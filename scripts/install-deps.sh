#!/usr/bin/env bash
# Installs the Debian packages setsuden needs, only those missing, so it is
# cheap to call on every `make run` / `make test`. Usage:
#   scripts/install-deps.sh run    # build + demo: cgo libvirt
#   scripts/install-deps.sh test   # + the real test peers: pymodbus, mbpoll, chromium, poppler
set -euo pipefail
want=(gcc pkg-config libvirt-dev)
if [ "${1:-run}" = test ]; then
  want+=(python3-pymodbus mbpoll chromium poppler-utils)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/); expected at /usr/local/go/bin/go" >&2; exit 1; }
