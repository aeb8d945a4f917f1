#!/usr/bin/env bash
# Installs everything Concord needs on a fresh Debian machine that has the .NET SDK, then
# restores and builds it. Idempotent and quiet when there is nothing to do. Used by the
# README's two commands (scripts/wordcount.sh, scripts/test.sh) and by CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET SDK (dotnet) is not on PATH; install .NET 10 SDK first (https://dot.net)" >&2
    exit 1
fi

# Operator SDK toolchains from Debian packages (no PyPI / Go proxy on these machines).
log "toolchains: Python and Go operator SDKs"
bash scripts/install-python.sh
bash scripts/install-go.sh
bash scripts/install-ruby.sh
bash scripts/install-node.sh
bash scripts/install-java.sh
bash scripts/install-prometheus.sh
bash scripts/install-graphviz.sh
bash scripts/install-zookeeper.sh
bash scripts/install-mesos-protos.sh
bash scripts/install-chromium.sh

# Before the .NET build: the scheduler's build copies ui/dist into its output when it exists.
log "build: web dashboard (ui/)"
bash scripts/build-ui.sh

log "build: .NET (Release)"
dotnet build Concord.sln -c Release -nologo -clp:ErrorsOnly -v:q

log "build: Go examples"
bash scripts/build-go-examples.sh
bash scripts/build-test-operators.sh
