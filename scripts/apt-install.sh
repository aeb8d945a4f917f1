#!/usr/bin/env bash
# apt-install.sh LABEL PACKAGE...
# Installs the Debian packages that are missing, non-interactively; does nothing (and runs no
# apt-get) when all are installed, so every install script is fast on a ready machine.
set -euo pipefail
label="$1"; shift

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

echo "$label: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
