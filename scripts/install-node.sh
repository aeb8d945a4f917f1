#!/usr/bin/env bash
# Installs what the Node SDK needs: Node.js 20 (with its npm) from the Debian package, then the two npm
# packages it depends on (@grpc/grpc-js, @grpc/proto-loader, pinned in sdk/node/package.json and
# sdk/node/package-lock.json) into sdk/node/node_modules (gitignored). Idempotent: npm is not run
# when node_modules already holds exactly the locked versions.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/apt-install.sh" install-node nodejs
# Debian's own nodejs package ships npm separately (NodeSource's includes it).
command -v npm >/dev/null 2>&1 || bash "$root/scripts/apt-install.sh" install-node-npm npm
# grpc-js 1.14 and the SDK need Node 20 or later (package.json "engines").
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "install-node: node $(node --version) is too old; the Node SDK needs Node 20 or later (e.g. the NodeSource nodejs package)" >&2
  exit 1
fi

sdk="$root/sdk/node"
stamp="$sdk/node_modules/.package-lock.json"
if [ -f "$stamp" ] && cmp -s <(node -e 'const l=require(process.argv[1]);for(const[k,v]of Object.entries(l.packages))if(k)console.log(k,v.version)' "$sdk/package-lock.json") \
                               <(node -e 'const l=require(process.argv[1]);for(const[k,v]of Object.entries(l.packages))if(k)console.log(k,v.version)' "$stamp"); then
  echo "install-node: npm packages present ($(cd "$sdk" && node -p 'Object.entries(require("./package.json").dependencies).map(([k,v])=>k+"@"+v).join(" ")'))"
  exit 0
fi
log_dir="${CONCORD_APT_LOG_DIR:-$root/artifacts/logs}"
mkdir -p "$log_dir"
log="$log_dir/npm-install-node.log"
# npm ci installs exactly package-lock.json (fails if package.json and the lock disagree).
if (cd "$sdk" && npm ci --no-audit --no-fund --ignore-scripts) >"$log" 2>&1; then
  echo "install-node: installed npm packages into sdk/node/node_modules (npm log: ${log#$root/})"
else
  status=$?
  {
    echo "install-node: npm ci failed (exit $status) in sdk/node; its output ($log):"
    sed 's/^/  /' "$log"
    echo "install-node: fix the problem above (network, npm registry access) and run the script again"
  } >&2
  exit "$status"
fi
