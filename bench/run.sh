#!/usr/bin/env bash
# The word-count benchmark in one command. Builds what it needs (Release), then in ONE run
# measures the baselines (gRPC echo over a unix socket in batches of 1,000; the word count in
# one thread) and the pipeline generator → counter (group_by) → csv-sink on a real local
# cluster: full speed, half rate, stalled sink. Prints the table and writes it into
# bench/RESULTS.md (between markers; the analysis there is kept).
#
#   bench/run.sh [--seconds N] [--warmup N] [--counter dotnet|python|go|ruby|node|java|CMD|deploy.json]
#                [--counter-instances N] [--results PATH|-] [--no-build]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command="bench/run.sh $*"

build=1
counter=dotnet
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --counter) counter="$2"; args+=("$1" "$2"); shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

if [[ $build == 1 ]]; then
    # Other builds may run in the same tree: one at a time.
    for project in services/scheduler/Concord.Scheduler.csproj services/executor/Concord.Executor.csproj \
                   examples/wordcount/dotnet/WordCount.csproj bench/Concord.Bench/Concord.Bench.csproj; do
        flock /tmp/concord-build.lock dotnet build "$project" -c Release -nologo -clp:ErrorsOnly -v:q >&2
    done
    case "$counter" in
        go) bash scripts/build-go-examples.sh >&2 ;;
        python) bash scripts/install-python.sh >&2 ;;
        ruby) bash scripts/install-ruby.sh >&2 ;;
        node) bash scripts/install-node.sh >&2 ;;
        java) bash scripts/install-java.sh >&2 && bash scripts/build-java.sh >&2 ;;
    esac
fi

exec dotnet "$root/artifacts/bin/Concord.Bench/release/Concord.Bench.dll" --root "$root" --command "$command" "${args[@]}"
