#!/usr/bin/env bash
# apt-install.sh LABEL PACKAGE...
# Installs the Debian packages that are missing, non-interactively; does nothing (and runs no
# apt-get) when all are installed, so every install script is fast on a ready machine.
# Prints one line per package set: apt's own output goes to a log file
# ($CONCORD_APT_LOG_DIR, default artifacts/logs/ in the repository, one file per LABEL) that is
# printed only when apt fails.
set -euo pipefail
label="$1"; shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "$label: all packages present ($*)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$label: missing ${missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
fi

log_dir="${CONCORD_APT_LOG_DIR:-$root/artifacts/logs}"
mkdir -p "$log_dir"
log="$log_dir/apt-$label.log"
: >"$log"
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -q >>"$log" 2>&1 \
   && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  echo "$label: installed ${missing[*]} (apt log: ${log#$root/})"
else
  status=$?
  {
    echo "$label: apt-get failed (exit $status) installing ${missing[*]}; its output ($log):"
    sed 's/^/  /' "$log"
    echo "$label: fix the problem above (network, apt sources, a held package) and run the script again"
  } >&2
  exit "$status"
fi
