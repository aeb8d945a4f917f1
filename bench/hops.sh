#!/usr/bin/env bash
# Where an executor's kernel time goes: context switches and CPU per batch of every executor in
# the word-count pipeline, measured in its steady state. Runs `bench/run.sh --only pipeline`
# (20 s window after a 5 s warm-up) and, inside that window, reads each executor's switches
# (voluntary + involuntary, summed over its threads from /proc/PID/task/*/status), its CPU time
# (/proc/PID/stat) and its batch count (concord_batch_duration_seconds_count on its /metrics)
# twice, HOPS_WINDOW_SECONDS apart.
#
#   bench/hops.sh [--no-build]        (environment variables are passed to every process)
#
# A switch count that grows with the records of a batch rather than with batches points at the
# transport (HTTP/2 frames of 16 KiB), one that stays per batch at the executor's own hand-offs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

readonly SETTLE_SECONDS=14         # bench/run.sh's 5 s warm-up plus start-up, with margin
readonly HOPS_WINDOW_SECONDS=8     # inside the bench's 20 s window
readonly METRICS_TIMEOUT_SECONDS=2 # one /metrics read

for tool in pgrep ss curl awk; do
    command -v "$tool" >/dev/null || { echo "bench/hops.sh needs '$tool' (apt-get install procps iproute2 curl gawk)" >&2; exit 2; }
done

log="$(mktemp)"
trap 'rm -f "$log" "$log".a "$log".b; [[ -n "${bench:-}" ]] && kill "$bench" 2>/dev/null || true' EXIT
bench/run.sh "$@" --only pipeline --seconds 20 --warmup 5 --results - >"$log" 2>&1 &
bench=$!

snapshot() {
    local pid op vol inv cpu batches port value
    for pid in $(pgrep -f Concord.Executor.dll); do
        op=$(tr '\0' ' ' <"/proc/$pid/cmdline" | grep -o -- '--operator [^ ]*' | cut -d' ' -f2) || continue
        vol=0; inv=0
        for status in /proc/"$pid"/task/*/status; do
            read -r v n < <(awk '/^voluntary_ctxt/{v=$2} /^nonvoluntary_ctxt/{n=$2} END{print v+0, n+0}' "$status" 2>/dev/null || echo "0 0")
            vol=$((vol + v)); inv=$((inv + n))
        done
        cpu=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        batches=0
        for port in $(ss -ltnp | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://'); do
            value=$(curl -s -m "$METRICS_TIMEOUT_SECONDS" "http://127.0.0.1:$port/metrics" | awk '/^concord_batch_duration_seconds_count/{print $2}') || true
            [[ -n "$value" ]] && batches=$value
        done
        echo "$op $vol $inv $cpu $batches"
    done | sort
}

sleep "$SETTLE_SECONDS"
snapshot >"$log.a"
sleep "$HOPS_WINDOW_SECONDS"
snapshot >"$log.b"
ticks=$(getconf CLK_TCK)
join "$log.a" "$log.b" | awk -v w="$HOPS_WINDOW_SECONDS" -v tck="$ticks" '{
    db = $9 - $5
    if (db <= 0) { printf "%-8s no batches in the window\n", $1; next }
    printf "%-8s voluntary switches/batch %.1f  involuntary/batch %.1f  CPU µs/batch %.0f  batches/s %.0f\n",
        $1, ($6 - $2) / db, ($7 - $3) / db, ($8 - $4) * 1e6 / tck / db, db / w }'
wait "$bench" || { echo "bench/run.sh failed:" >&2; tail -20 "$log" >&2; exit 1; }
bench=
grep -m1 "records/s, p50" "$log"
