#!/usr/bin/env bash
# Installs what the Go SDK needs from Debian packages (no Go module proxy here): Go 1.19, protoc
# with the Go and Go-gRPC plugins, and the gRPC and protobuf Go sources under /usr/share/gocode
# (built in GOPATH mode, see docs/sdk-go.md). Not golang-goprotobuf-dev: it is the old API.
# Idempotent and fast when everything is there: apt-get runs only for missing packages.
set -euo pipefail

PACKAGES=(golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-go: all packages present (${PACKAGES[*]})"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-go: missing ${missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
fi

echo "install-go: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
