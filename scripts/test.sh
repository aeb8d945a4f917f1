#!/usr/bin/env bash
# The whole test suite: installs and builds what it needs (scripts/setup.sh), then runs every
# layer — unit, in-process gRPC, multi-process end-to-end, SDK conformance — and prints one
# closing line "N passed, N failed". Slow tests stay behind CONCORD_SLOW_TESTS=1.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }

results="$(mktemp -d /tmp/concord-test.XXXXXX)"
passed=0
failed=0
status=0

# .NET test projects, one after another (2-core machines: parallel test hosts only contend).
for project in tests/Concord.*.Tests/*.csproj; do
    name="$(basename "$project" .csproj)"
    printf '\033[1m==> %s\033[0m\n' "$name" >&2
    log="$results/$name.log"
    dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=normal" \
        --results-directory "$results/$name" 2>&1 | tee "$log" | grep -E '^\s*(Failed|Passed|Skipped) |Total tests|Passed!|Failed!|error' || true
    summary="$(grep -E '(Passed|Failed)!\s+-\s+Failed:' "$log" | tail -n 1)"
    if [[ -z "$summary" ]]; then
        echo "$name: no test summary (build or host failure)" >&2
        failed=$((failed + 1)); status=1; continue
    fi
    p="$(sed -E 's/.*Passed:\s+([0-9]+).*/\1/' <<<"$summary")"
    f="$(sed -E 's/.*Failed:\s+([0-9]+).*/\1/' <<<"$summary")"
    passed=$((passed + p)); failed=$((failed + f))
    [[ "$f" == 0 ]] || status=1
done

# SDK suites in their own languages.
for suite in scripts/test-python-sdk.sh scripts/test-go-sdk.sh; do
    [[ -f "$suite" ]] || continue
    printf '\033[1m==> %s\033[0m\n' "$suite" >&2
    if out="$(bash "$suite" 2>&1)"; then
        echo "$out" | tail -n 5
        passed=$((passed + 1))
    else
        echo "$out" | tail -n 40
        failed=$((failed + 1)); status=1
    fi
done

echo
echo "$passed passed, $failed failed"
exit "$status"
