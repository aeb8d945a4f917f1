#!/usr/bin/env bash
# Generates the Go protobuf and gRPC packages from proto/ into the SDK's module (sdk/go, module
# concord): sdk/go/gen/concord/<area>/v1 (import path concord/gen/concord/<area>/v1, from each
# proto's go_package). The output is not committed (sdk/go/.gitignore): every Go build runs
# this first (scripts/build-go-examples.sh, scripts/test-go-sdk.sh, scripts/build-test-operators.sh),
# so Go code can never drift from proto/. Uses Debian's protoc, protoc-gen-go and
# protoc-gen-go-grpc.
#
# Usage: scripts/gen-go.sh [OUT_DIR]   (default: sdk/go/gen)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/sdk/go/gen}")"

for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "gen-go: '$tool' not found; run scripts/install-go.sh first" >&2
    exit 1
  fi
done

# Builds may run in parallel (tests, the lead's conformance suite): generate into a temp dir
# under a lock and replace the output only when it changed, so a concurrent `go build` never
# sees a half-written tree.
PARENT="$(dirname "$OUT")"
mkdir -p "$PARENT"
exec 9<"$PARENT"
flock 9
TMP="$(mktemp -d "$PARENT/.gen-XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

cd "$ROOT/proto"
mapfile -t PROTOS < <(find concord -name '*.proto' | LC_ALL=C sort)
protoc -I . \
  --go_out=paths=source_relative:"$TMP" \
  --go-grpc_out=paths=source_relative:"$TMP" \
  "${PROTOS[@]}"
if [ -d "$OUT" ] && diff -r -q "$TMP" "$OUT" >/dev/null 2>&1; then
  echo "gen-go: ${OUT#$ROOT/} is up to date with ${#PROTOS[@]} protos"
else
  rm -rf "$OUT"
  mv "$TMP" "$OUT"
  chmod 755 "$OUT"
  echo "gen-go: generated ${#PROTOS[@]} protos into ${OUT#$ROOT/}"
fi
