#!/usr/bin/env bash
# Installs what the Go SDK needs from Debian packages (no Go module proxy here): Go 1.19, protoc
# with the Go and Go-gRPC plugins, and the gRPC and protobuf Go sources under /usr/share/gocode
# (linked into the Go modules' vendor/ by scripts/go-vendor.sh, see docs/sdk-go.md). Not
# golang-goprotobuf-dev: it is the old API.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-go \
  golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev \
  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev
