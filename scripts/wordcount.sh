#!/usr/bin/env bash
# The main job: start an embedded Concord cluster, deploy the word-count topology with
# operators in several languages (C# source and sink, a Python counter by default), show
# live throughput, stop the source, print the top counts, and shut the cluster down.
#
#   scripts/wordcount.sh [--seconds N] [--rate WORDS_PER_S] [--counter python|go|ruby|node|java|dotnet] [--instances N] [--no-setup]
#
# --no-setup skips scripts/setup.sh (install and build), for a tree that is built already
# (the end-to-end suite runs this script that way).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds=20
rate=50000
counter=python
instances=2
setup=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --counter) counter="$2"; shift 2 ;;
        --instances) instances="$2"; shift 2 ;;
        --no-setup) setup=0; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option '$1'; see --help" >&2; exit 2 ;;
    esac
done
case "$counter" in
    python|go|ruby|node|java|dotnet) ;;
    *) echo "--counter must be python, go, ruby, node, java or dotnet, not '$counter'" >&2; exit 2 ;;
esac

if [[ "$setup" == 1 ]]; then
    bash scripts/setup.sh
fi

# A short home path: operator sockets live under it and unix socket paths are capped at 107 bytes.
home="$(mktemp -d /tmp/concord-wc.XXXXXX)"
out="$home/counts.csv"
concord() { CONCORD_HOME="$home" dotnet artifacts/bin/concord/release/concord.dll "$@"; }
cleanup() { concord down >/dev/null 2>&1 || true; }
trap cleanup EXIT

bold() { printf '\033[1m%s\033[0m\n' "$*"; }

bold "==> starting an embedded cluster (state in $home)"
concord up --port 0 --detach

# Deploy readers before writers, so no word is produced before its reader exists.
work="$home/deploy"
mkdir -p "$work"
counter_file="examples/wordcount/counter.json"
[[ "$counter" == python ]] && counter_file="examples/wordcount/counter-python.json"
[[ "$counter" == go ]] && counter_file="examples/wordcount/counter-go.json"
[[ "$counter" == ruby ]] && counter_file="examples/wordcount/counter-ruby.json"
[[ "$counter" == node ]] && counter_file="examples/wordcount/counter-node.json"
[[ "$counter" == java ]] && counter_file="examples/wordcount/counter-java.json"

/usr/bin/python3 - "$root" "$work" "$out" "$rate" "$instances" "$counter_file" <<'PY'
import json, os, shutil, sys
root, work, out, rate, instances, counter_file = sys.argv[1:]
def load(rel):
    path = os.path.join(root, rel)
    d = json.load(open(path))
    base = os.path.dirname(path)
    # Resolve path-like values here because the copies live in another directory.
    if "/" in d.get("executable", ""):
        d["executable"] = os.path.normpath(os.path.join(base, d["executable"]))
    # The scheduler copies only files under the deploy file's directory (docs/security.md),
    # so the copies' files travel with them.
    files = []
    for f in d.get("files", []):
        source = os.path.normpath(os.path.join(base, f))
        target = os.path.join(work, os.path.basename(source))
        (shutil.copytree(source, target, dirs_exist_ok=True) if os.path.isdir(source) else shutil.copyfile(source, target))
        files.append(os.path.basename(source))
    d["files"] = files
    return d
sink = load("examples/wordcount/sink.json"); sink.setdefault("environment", {})["WORDCOUNT_OUTPUT"] = out
counter = load(counter_file); counter["instances"] = int(instances)
source = load("examples/wordcount/source.json"); source.setdefault("environment", {})["WORDCOUNT_RATE"] = rate
for name, d in (("sink", sink), ("counter", counter), ("source", source)):
    json.dump(d, open(os.path.join(work, name + ".json"), "w"), indent=2)
PY

bold "==> deploying word count: sink (C#), counter ($counter, $instances instances, group_by word), source (C#, $rate words/s)"
concord deploy "$work/sink.json"
concord deploy "$work/counter.json"
concord deploy "$work/source.json"
concord list
concord graph
address="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$home/scheduler.json" 2>/dev/null || true)"
[[ -n "$address" ]] && echo "dashboard while it runs: ${address}/ui/ (log in with the token in $home/token; docs/dashboard.md)"

bold "==> running for $seconds s: counts written by the sink"
lines() { [[ -f "$out" ]] && wc -l <"$out" || echo 0; }
prev=$(lines); start=$(date +%s.%N)
for ((i = 1; i <= seconds; i++)); do
    sleep 1   # pacing the progress display, not waiting for a condition
    now=$(lines)
    printf '  t=%3ds  counts received %10d  throughput %8d records/s\n' "$i" "$now" "$((now - prev))"
    prev=$now
done

bold "==> stopping the source; letting the pipeline drain"
concord kill source
stable=0; last=$(lines)
for ((i = 0; i < 50 && stable < 3; i++)); do
    sleep 0.2
    now=$(lines)
    if [[ "$now" == "$last" ]]; then stable=$((stable + 1)); else stable=0; fi
    last=$now
done
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
total=$(lines)
bold "==> $total counts in ${elapsed}s; top 10 words"
/usr/bin/python3 - "$out" <<'PY'
import sys
final = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    word, _, count = line.rstrip("\n").rpartition(",")
    if word and count.isdigit():
        final[word] = max(final.get(word, 0), int(count))
for word, count in sorted(final.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
    print(f"  {word:<16} {count:>8}")
lines = sum(1 for _ in open(sys.argv[1], "rb"))
total = sum(final.values())
print(f"  ({len(final)} distinct words, {total} words counted)")
# The counter emits the updated count for every word, so the final counts must add up to the
# number of count records: a lost, duplicated or mis-grouped record would break the equality.
verdict = "consistent" if total == lines else "INCONSISTENT"
print(f"  check: sum of final counts {total} vs count records {lines}: {verdict}")
sys.exit(0 if total == lines else 1)
PY
bold "==> shutting down"
