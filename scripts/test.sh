#!/usr/bin/env bash
# The whole test suite: installs and builds what it needs (scripts/setup.sh), then runs every
# layer — unit, in-process gRPC, multi-process end-to-end, SDK conformance — and prints one
# closing line "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }

results="$(mktemp -d /tmp/concord-test.XXXXXX)"
passed=0
failed=0
status=0

# The lines of a test run worth showing live: failures, their messages, the counts.
summarize() { grep -E '^\s*Failed |Error Message|Total tests|^\s+(Passed|Failed): ' || true; }

# For each failed test: its message and the top of its stack trace, bounded per failure.
failure_details() {
    # [ \t] not \s: Debian's awk is mawk.
    awk '/^[ \t]*Failed / {n = 14} n > 0 {print "    | " $0; n--}' "$1" | head -n 200 >&2
}

# Style, as CI enforces it (CONTRIBUTING.md): whitespace and the usings. A failure names the fix.
printf '\033[1m==> %s\033[0m\n' "dotnet format (verify)" >&2
if dotnet format whitespace Concord.sln --verify-no-changes -v:q >"$results/format.log" 2>&1 \
    && dotnet format style Concord.sln --no-restore --verify-no-changes --diagnostics IDE0005 IDE0065 -v:q >>"$results/format.log" 2>&1; then
    passed=$((passed + 1))
else
    grep -E 'error (WHITESPACE|IMPORTS|IDE)' "$results/format.log" | head -n 20 >&2
    echo "format: files differ from the style; run: dotnet format whitespace Concord.sln && dotnet format style Concord.sln --diagnostics IDE0005 IDE0065" >&2
    failed=$((failed + 1)); status=1
fi

# .NET test projects, one after another (2-core machines: parallel test hosts only contend).
for project in tests/Concord.*.Tests/*.csproj; do
    name="$(basename "$project" .csproj)"
    printf '\033[1m==> %s\033[0m\n' "$name" >&2
    log="$results/$name.log"
    dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=normal" \
        --results-directory "$results/$name" 2>&1 | tee "$log" | summarize
    # CI keeps only this output: the first lines of each failure's message and stack say why.
    [[ -n "$(grep -E '^\s*Failed ' "$log" || true)" ]] && failure_details "$log"
    total="$(grep -E '^Total tests: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)"
    if [[ -z "$total" ]]; then
        echo "$name: no test summary (build or test host failure); see $log" >&2
        failed=$((failed + 1)); status=1; continue
    fi
    p="$(grep -E '^\s+Passed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)"
    f="$(grep -E '^\s+Failed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)"
    passed=$((passed + p)); failed=$((failed + f))
    [[ "$f" == 0 && "$p" -gt 0 ]] || status=1
done

# SDK suites in their own languages, and the dashboard's front end (node --test); count their tests from unittest's, go test's, minitest's, node --test's and JUnit's output.
for suite in scripts/test-python-sdk.sh scripts/test-go-sdk.sh scripts/test-ruby-sdk.sh scripts/test-node-sdk.sh scripts/test-java-sdk.sh scripts/test-ui.sh; do
    printf '\033[1m==> %s\033[0m\n' "$suite" >&2
    log="$results/$(basename "$suite" .sh).log"
    bash "$suite" >"$log" 2>&1
    code=$?
    tail -n 5 "$log"
    # CI keeps only this output: each failing test's name and the top of its trace say why.
    if [[ $code -ne 0 ]]; then
        grep -E -A 24 '^(ERROR|FAIL): |^\s*--- FAIL|^not ok |Failure:$|Error:$|^[0-9]+\) ' "$log" | head -n 160 | sed 's/^/    | /' >&2
        grep -E '^scheduler log\| ' "$log" | tail -n 60 >&2
    fi
    py_ran="$(grep -oE '^Ran [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')"
    py_bad="$(grep -oE '^FAILED \((failures|errors)=[0-9]+(, (failures|errors)=[0-9]+)?' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')"
    go_pass="$(grep -cE '^\s*--- PASS' "$log" || true)"
    go_fail="$(grep -cE '^\s*--- FAIL' "$log" || true)"
    node_pass="$(grep -oE '^# pass [0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')"
    node_fail="$(grep -oE '^# fail [0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')"
    junit_ok="$(grep -oE '^OK \([0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')"
    junit_bad="$(grep -oE '^Tests run: [0-9]+, +Failures: [0-9]+' "$log" | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}')"
    p=$(( ${py_ran:-0} - ${py_bad:-0} + ${go_pass:-0} + ${node_pass:-0} + ${junit_ok:-0} )); f=$(( ${py_bad:-0} + ${go_fail:-0} + ${node_fail:-0} + ${junit_bad:-0} ))
    # minitest (Ruby SDK): "N runs, N assertions, N failures, N errors, N skips".
    rb="$(grep -oE '^[0-9]+ runs, [0-9]+ assertions, [0-9]+ failures, [0-9]+ errors' "$log" | tail -n 1 | grep -oE '[0-9]+' | tr '\n' ' ')"
    read -r rb_runs _ rb_failures rb_errors <<<"${rb:-0 0 0 0}"; p=$(( p + rb_runs - rb_failures - rb_errors )); f=$(( f + rb_failures + rb_errors ))
    if [[ $code -ne 0 && $f -eq 0 ]]; then
        f=1; echo "$suite exited $code; see $log" >&2
    fi
    passed=$((passed + p)); failed=$((failed + f))
    [[ $code -eq 0 ]] || status=1
done

echo
echo "$passed passed, $failed failed"
exit "$status"
