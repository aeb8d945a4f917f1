#!/usr/bin/env bash
# The delivery-guarantee benchmark in one command (issue 13, docs/guarantees.md). Builds what it
# needs (Release), then in ONE run: the word count generator → counter with keyed state (the
# C# test operator, case "state") → csv-sink in at_most_once, at_least_once and exactly_once
# (checkpoint every second), as ratios to at_most_once; checkpoint durations and alignment
# times; recovery time from a SIGKILL of the counter's executor; state size of 1M counter keys
# in the memory and rocksdb backends (bench/StateSize.md). Prints the tables and writes them
# into bench/RESULTS.md (between the guarantees markers; the rest is kept).
#
#   bench/run-guarantees.sh [--seconds N] [--warmup N] [--counter-instances N] [--state-keys N]
#                           [--only modes|recovery|state] [--results PATH|-] [--keep-home] [--no-build]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command="bench/run-guarantees.sh $*"

build=1
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

if [[ $build == 1 ]]; then
    # Other builds may run in the same tree: one at a time.
    for project in services/scheduler/Concord.Scheduler.csproj services/executor/Concord.Executor.csproj \
                   tests/operators/dotnet/Concord.TestOperator/Concord.TestOperator.csproj bench/Concord.Bench/Concord.Bench.csproj; do
        flock /tmp/concord-build.lock dotnet build "$project" -c Release -nologo -clp:ErrorsOnly -v:q >&2
    done
fi

exec dotnet "$root/artifacts/bin/Concord.Bench/release/Concord.Bench.dll" --root "$root" --scenario guarantees --command "$command" "${args[@]}"
