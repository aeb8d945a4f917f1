#!/usr/bin/env bash
# Generates the Python protobuf and gRPC modules from proto/ into sdk/python/concord/gen/.
# The generated files are committed (Python has no build step); scripts/check-python-gen.sh
# fails when they drift from proto/. Uses Debian's protoc and grpc_python_plugin, not
# `python3 -m grpc_tools.protoc` (its bundled protoc 3.5 rejects proto3 `optional`).
#
# Usage: scripts/gen-python.sh [OUT_DIR]   (default: sdk/python/concord/gen)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/sdk/python/concord/gen}"
PLUGIN=/usr/bin/grpc_python_plugin

for tool in protoc "$PLUGIN"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "gen-python: '$tool' not found; run scripts/install-python.sh first" >&2
    exit 1
  fi
done

# Regenerate from scratch so a removed .proto leaves no stale module behind.
rm -rf "$OUT/concord"
mkdir -p "$OUT"
cd "$ROOT/proto"
mapfile -t PROTOS < <(find concord -name '*.proto' | LC_ALL=C sort)
protoc -I . \
  --python_out="$OUT" \
  --grpc_out="$OUT" \
  --plugin=protoc-gen-grpc="$PLUGIN" \
  "${PROTOS[@]}"
# Files without services get an empty *_pb2_grpc.py; keep only the ones with content.
find "$OUT/concord" -name '*_pb2_grpc.py' -size -200c -delete
echo "gen-python: generated ${#PROTOS[@]} protos into ${OUT#$ROOT/}"
