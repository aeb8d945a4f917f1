#!/usr/bin/env bash
# Installs what the Python SDK needs from Debian packages (no PyPI here): gRPC and protobuf
# for /usr/bin/python3, and protoc with the gRPC Python plugin for code generation.
# Idempotent and fast when everything is there: apt-get runs only for missing packages.
set -euo pipefail

PACKAGES=(python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-python: all packages present (${PACKAGES[*]})"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-python: missing ${missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
fi

echo "install-python: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
