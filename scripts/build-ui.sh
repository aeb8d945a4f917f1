#!/usr/bin/env bash
# Builds the web dashboard (docs/dashboard.md) into ui/dist/: Node from scripts/install-node.sh,
# the exact devDependencies of ui/package-lock.json (TypeScript; nothing ships to the browser but
# our own code), `tsc` over ui/src, then the static html/css of ui/static. The scheduler's build
# copies ui/dist into its output (ui/ beside the binary) when it exists, so run this before
# `dotnet build` (scripts/setup.sh does). Idempotent; npm is not run when ui/node_modules already
# holds exactly the locked versions.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ui="$root/ui"
bash "$root/scripts/install-node.sh" >/dev/null

versions() { node -e 'const l=require(process.argv[1]);for(const[k,v]of Object.entries(l.packages))if(k)console.log(k,v.version)' "$1"; }
stamp="$ui/node_modules/.package-lock.json"
if ! { [ -f "$stamp" ] && cmp -s <(versions "$ui/package-lock.json") <(versions "$stamp"); }; then
  log_dir="${CONCORD_APT_LOG_DIR:-$root/artifacts/logs}"
  mkdir -p "$log_dir"
  log="$log_dir/npm-build-ui.log"
  # npm ci installs exactly package-lock.json (fails if package.json and the lock disagree).
  if ! (cd "$ui" && npm ci --no-audit --no-fund --ignore-scripts) >"$log" 2>&1; then
    sed 's/^/  /' "$log" >&2
    echo "build-ui: npm ci failed in ui/ (output above, $log); fix the network or npm registry access and run scripts/build-ui.sh again" >&2
    exit 1
  fi
fi

# A clean output: a module removed from ui/src must not linger and be served.
rm -rf "$ui/dist"
(cd "$ui" && node node_modules/typescript/bin/tsc -p tsconfig.json) || {
  echo "build-ui: tsc failed (errors above); fix ui/src and run scripts/build-ui.sh again" >&2
  exit 1
}
cp "$ui"/static/*.html "$ui"/static/*.css "$ui/dist/"
bytes="$(cat "$ui"/dist/*.html "$ui"/dist/*.css "$ui"/dist/*.js | wc -c)"
echo "build-ui: ui/dist built ($(ls "$ui/dist" | wc -l) files, $((bytes / 1024)) KiB)"
