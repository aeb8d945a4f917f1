#!/usr/bin/env bash
# Generates the Ruby protobuf and gRPC modules from proto/ into sdk/ruby/lib/concord/gen/.
# The generated files are committed (Ruby has no build step, as Python's are); rerun this after
# changing a .proto. Uses Debian's grpc_tools_ruby_protoc (scripts/install-ruby.sh).
#
# Usage: scripts/gen-ruby.sh [OUT_DIR]   (default: sdk/ruby/lib/concord/gen)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/sdk/ruby/lib/concord/gen}"
PROTOC=grpc_tools_ruby_protoc

if ! command -v "$PROTOC" >/dev/null 2>&1; then
  echo "gen-ruby: '$PROTOC' not found; run scripts/install-ruby.sh first" >&2
  exit 1
fi

# Regenerate from scratch so a removed .proto leaves no stale module behind.
rm -rf "$OUT/concord"
mkdir -p "$OUT"
cd "$ROOT/proto"
mapfile -t PROTOS < <(find concord -name '*.proto' | LC_ALL=C sort)
"$PROTOC" -I . --ruby_out="$OUT" --grpc_out="$OUT" "${PROTOS[@]}"
echo "gen-ruby: generated ${#PROTOS[@]} protos into ${OUT#$ROOT/}"
