#!/usr/bin/env bash
# The Kafka benchmark (the original Concord benchmark): prefill a topic on the development Kafka
# with N random words from examples/wordcount/words.txt, measure the broker's own consume
# ceiling with a plain consumer (the baseline), then run kafka-source → counter (group_by) →
# csv-sink, check every final count equals the input count, and write the "Kafka" section of
# bench/RESULTS.md (only that section; the rest of the file belongs to bench/run.sh).
#
#   bench/kafka/run.sh [--records N] [--partitions N] [--source-instances N]
#                      [--counter-instances N] [--source-options k=v,...] [--results PATH|-] [--no-build]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
command="bench/kafka/run.sh $*"

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
                   cli/Concord.Cli.csproj tools/Concord.KafkaDev/Concord.KafkaDev.csproj \
                   examples/wordcount/dotnet/WordCount.csproj bench/kafka/KafkaBench/KafkaBench.csproj; do
        flock /tmp/concord-build.lock dotnet build "$project" -c Release -nologo -clp:ErrorsOnly -v:q >&2
    done
fi

exec dotnet "$root/artifacts/bin/KafkaBench/release/KafkaBench.dll" --root "$root" --command "$command" "${args[@]}"
