#!/usr/bin/env bash
# Throughput dip and recovery time of each live change (docs/live-changes.md), measured by the
# end-to-end tests in tests/Concord.EndToEnd.Tests/LiveChangeTests.cs on a real local cluster:
# word source (5,000 words/s) → C# counter (group_by) → built-in CSV sink. For every change it
# records the time to take effect, the sink's rate before, the lowest 500 ms window after, and
# when the rate was last below 80 % of before. Writes a section into bench/RESULTS.md between
# the markers below (the rest of the file is kept; the section is appended if missing).
#
#   bench/live-changes.sh [--no-build] [--results PATH|-]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build=1
results="bench/RESULTS.md"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --results) results="$2"; shift 2 ;;
        -h|--help) sed -n 2,9p "$0"; exit 0 ;;
        *) echo "live-changes.sh: unknown option '$1'; see --help" >&2; exit 2 ;;
    esac
done

if [[ $build == 1 ]]; then
    # Other builds may run in the same tree: one at a time.
    for project in services/scheduler/Concord.Scheduler.csproj services/executor/Concord.Executor.csproj \
                   cli/Concord.Cli.csproj examples/wordcount/dotnet/WordCount.csproj \
                   tests/Concord.EndToEnd.Tests/Concord.EndToEnd.Tests.csproj; do
        flock /tmp/concord-build.lock dotnet build "$project" -c Release -nologo -clp:ErrorsOnly -v:q >&2
    done
fi

# Other work on the machine skews every figure here: record how busy it was.
load="$(cut -d' ' -f1-3 /proc/loadavg)"
rows="$(mktemp /tmp/cc-live-XXXXXX)"
trap 'rm -f "$rows"' EXIT
CONCORD_LIVE_RESULTS="$rows" dotnet test tests/Concord.EndToEnd.Tests/Concord.EndToEnd.Tests.csproj -c Release --no-build \
    --filter "FullyQualifiedName~LiveChangeTests" -nologo >&2

section="$(cat <<MD
<!-- live-changes:begin (bench/live-changes.sh writes this section) -->
## Live changes under load

\`bench/live-changes.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average before the run: ${load}. Word source at 5,000 words/s → C# counter
(group_by) → built-in CSV sink, all on one machine, while the change happens. *Took effect*: from the
command to the new state (instances running, or routing moved); *before*: sink lines/s over the 2 s
before the change; *lowest*: lowest 500 ms window after it (until the next change); *recovered*: last
moment the rate was below 80 % of before, from the start of the change. See docs/live-changes.md.

| change | took effect | before | lowest after | recovered after | notes |
|---|---|---|---|---|---|
$(cat "$rows")
<!-- live-changes:end -->
MD
)"

if [[ "$results" == "-" ]]; then
    printf '%s\n' "$section"
    exit 0
fi
if [[ ! -s "$results" ]]; then
    printf '# Benchmark results\n' > "$results" # the title bench/run.sh gives a new file
fi
if grep -q '<!-- live-changes:begin' "$results"; then
    python3 - "$results" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r"<!-- live-changes:begin.*?<!-- live-changes:end -->", lambda _: section, text, flags=re.S)
open(path, "w").write(text)
PY
else
    printf '\n%s\n' "$section" >> "$results"
fi
printf '%s\n' "$section"
