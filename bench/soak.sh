#!/usr/bin/env bash
# The generator soak: a rate-limited generator through the real pump, router, outbound channel
# and data-plane server for a while (default 60 s); exit 1 if production ever pauses longer
# than 3 s (a lost timer wake-up). Was a 4 s unit test (GeneratorPumpStallTests); a soak is
# run by hand or on a schedule, not with every unit test run.
#
#   bench/soak.sh [--seconds N] [--rate N] [--no-build]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build=1
args=()
for arg in "$@"; do
    if [[ $arg == --no-build ]]; then build=0; else args+=("$arg"); fi
done
if [[ $build == 1 ]]; then
    flock /tmp/concord-build.lock dotnet build bench/GeneratorSoak/GeneratorSoak.csproj -c Release -nologo -clp:ErrorsOnly -v:q >&2
fi
exec dotnet "$root/artifacts/bin/GeneratorSoak/release/GeneratorSoak.dll" "${args[@]}"
