#!/usr/bin/env bash
# Installs the Debian packages setsuden needs, only those missing, so it is
# cheap to call on every `make run` / `make test`. Usage:
#   scripts/install-deps.sh run    # build + demo: cgo libvirt
#   scripts/install-deps.sh test   # + the real test peers: pymodbus, mbpoll, chromium, poppler,
#                                  #   two real libvirtd with qemu guests (live migration),
#                                  #   ipmi_sim + ipmitool (BMC), fonts and tzdata, wrk
set -euo pipefail
want=(gcc pkg-config libvirt-dev nodejs)
# Installed without their recommends (libvirt-daemon-system would pull in 240
# packages otherwise; shared/deps.md section 7).
lean=()
if [ "${1:-run}" = test ]; then
  want+=(python3-pymodbus mbpoll chromium poppler-utils openipmi ipmitool
    fonts-dejavu-core fonts-noto-cjk tzdata wrk)
  lean+=(libvirt-daemon-system qemu-system-x86 qemu-utils)
fi
missing() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
mapfile -t need < <(missing "${want[@]}")
mapfile -t needLean < <(missing "${lean[@]}")
if [ ${#need[@]} -gt 0 ] || [ ${#needLean[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]} ${needLean[*]}" >&2
  $SUDO apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ${#needLean[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${needLean[@]}" >/dev/null
  fi
fi
# npm builds the console's chart library (web/); Debian ships it apart from nodejs.
command -v npm >/dev/null || { $SUDO apt-get install -y -qq npm >/dev/null; }
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/); expected at /usr/local/go/bin/go" >&2; exit 1; }
