#!/usr/bin/env bash
# The test runner behind `make test`.
#
# Layout it runs (each test is a separate process; exit 0 = pass, 77 = skipped, else fail):
#   build/asan/tests/test_*             unit-test programs (tests/unit/test_*.c, ASan/UBSan)
#   tests/<suite>/test_*                scripts of a suite, in name order
#   tests/<suite>/setup, teardown       optional: start/stop what the suite needs (servers);
#                                       setup writes KEY=VALUE lines to "$SUITE_ENV", exported
#                                       to every test of the suite
# The integration suite runs once per io engine (TANDEM_IO_ENGINE=io_uring, then aio).
# Every test runs against the sanitizer build (TANDEM_BIN=build/asan). Logs: build/test-logs/latest/.
# Usage: tests/run.sh [FILTER]   (FILTER: substring of test names to run)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export TANDEM_ROOT=$ROOT
export TANDEM_BIN=${TANDEM_BIN:-$ROOT/build/asan}
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH # Debian's python3 and aws, not pyenv's
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# One log directory per run, so two runs at once (a developer and a helper) never delete each
# other's suite state; build/test-logs/latest points at the newest.
mkdir -p "$ROOT/build/test-logs"
LOGS=$(mktemp -d "$ROOT/build/test-logs/run-$(date +%Y%m%d-%H%M%S)-XXXX")
ln -sfn "$(basename "$LOGS")" "$ROOT/build/test-logs/latest"
find "$ROOT/build/test-logs" -maxdepth 1 -name 'run-*' -mmin +240 -exec rm -rf {} + 2>/dev/null || true
FILTER=${1:-}
SUITES=(integration fault repl s3 ship csi)
pass=0
fail=0
skip=0
failed=()

run_one() { # name cmd...
    local name=$1
    shift
    [ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]] && return
    local log="$LOGS/${name//\//_}.log" t0=$SECONDS rc
    timeout --kill-after=10 "${TEST_TIMEOUT:-300}" "$@" >"$log" 2>&1
    rc=$?
    local dt=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        printf 'PASS %-60s %4ds\n' "$name" "$dt"
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1))
        printf 'SKIP %-60s (%s)\n' "$name" "$(tail -n 1 "$log")"
    else
        fail=$((fail + 1))
        failed+=("$name")
        printf 'FAIL %-60s %4ds (rc=%d, log %s)\n' "$name" "$dt" "$rc" "$log"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
}

for t in "$TANDEM_BIN"/tests/test_*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done

run_suite() { # suite [label]
    local suite=$1 label=${2:-$1} dir=$ROOT/tests/$1
    [ -d "$dir" ] || return
    local tests=()
    for t in "$dir"/test_*; do
        [ -x "$t" ] || continue
        local n="$label/$(basename "$t")"
        [ -n "$FILTER" ] && [[ $n != *"$FILTER"* ]] && continue
        tests+=("$t")
    done
    [ ${#tests[@]} -eq 0 ] && return
    export SUITE_ENV=$LOGS/$label.env
    : >"$SUITE_ENV"
    if [ -x "$dir/setup" ]; then
        if ! "$dir/setup" >"$LOGS/$label.setup.log" 2>&1; then
            fail=$((fail + 1))
            failed+=("$label/setup")
            echo "FAIL $label/setup (log $LOGS/$label.setup.log)"
            tail -n 25 "$LOGS/$label.setup.log" | sed 's/^/    | /'
            [ -x "$dir/teardown" ] && "$dir/teardown" >>"$LOGS/$label.setup.log" 2>&1
            return
        fi
    fi
    set -a
    # shellcheck disable=SC1090
    . "$SUITE_ENV"
    set +a
    for t in "${tests[@]}"; do
        run_one "$label/$(basename "$t")" "$t"
    done
    [ -x "$dir/teardown" ] && "$dir/teardown" >>"$LOGS/$label.setup.log" 2>&1
}

for s in "${SUITES[@]}"; do
    if [ "$s" = integration ]; then
        for eng in io_uring aio; do
            export TANDEM_IO_ENGINE=$eng
            run_suite integration "integration[$eng]"
        done
    else
        run_suite "$s"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
fi
[ $skip -gt 0 ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
