# Shared helpers for the shell test suites. Source it first thing:
#   . "$(dirname "$0")/../lib/common.sh"
# Provides: a private work dir ($T, removed on exit), daemon start/stop with bounded waits,
# assertions that print what differed, and cleanup of every process a test started.
set -euo pipefail
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
TANDEM_ROOT=${TANDEM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TANDEM_BIN=${TANDEM_BIN:-$TANDEM_ROOT/build/asan}
TANDEMD=$TANDEM_BIN/tandemd
TANDEMCTL=$TANDEM_BIN/tandemctl
TANDEM_IO_ENGINE=${TANDEM_IO_ENGINE:-auto}
T=$(mktemp -d /tmp/tandem-test.XXXXXX)
_PIDS=()
_CLEANUP=()

_cleanup() {
    local rc=$?
    set +e
    for c in "${_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
    for p in "${_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ $rc -ne 0 ]; then
        for l in "$T"/*.log; do
            [ -f "$l" ] || continue
            echo "---- $(basename "$l") (last 30 lines)"
            tail -n "${TANDEM_LOG_LINES:-30}" "$l"
        done
    fi
    rm -rf "$T"
    exit $rc
}
trap _cleanup EXIT

on_exit() { _CLEANUP=("$*" "${_CLEANUP[@]}"); }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "# $*"; }

# wait_until TIMEOUT_S DESCRIPTION CMD...: polls CMD every 50 ms until it succeeds.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${timeout}s waiting for $what"
        sleep 0.05
    done
}

assert_eq() { # expected actual what
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_contains() { # haystack needle what
    case "$1" in *"$2"*) ;; *) fail "$3: '$2' not found in: $1" ;; esac
}

# start_daemon NAME [extra tandemd args...]: data dir $T/NAME, log $T/NAME.log.
# Sets ${NAME}_PID, and CTL_NAME / NBD_NAME paths are $T/NAME/{control,nbd}.sock.
start_daemon() {
    local name=$1
    shift
    mkdir -p "$T/$name"
    # DAEMON_NETNS (optional): run it inside that network namespace (ip netns exec keeps the pid)
    local pre=()
    [ -n "${DAEMON_NETNS:-}" ] && pre=(ip netns exec "$DAEMON_NETNS")
    "${pre[@]}" "$TANDEMD" --data-dir "$T/$name" --node "$name" --io-engine "$TANDEM_IO_ENGINE" "$@" \
        >>"$T/$name.log" 2>&1 &
    local pid=$!
    _PIDS+=("$pid")
    eval "${name}_PID=$pid"
    wait_until 20 "tandemd $name to come up" "$TANDEMCTL" --control "$T/$name/control.sock" node status
}

# stop_daemon NAME: SIGTERM and wait (bounded) for a clean exit; fails on a non-zero status.
stop_daemon() {
    local name=$1 pid
    eval "pid=\${${name}_PID}"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30)) rc=0
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "tandemd $name did not exit within 30s of SIGTERM"
        sleep 0.05
    done
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || fail "tandemd $name exited with status $rc"
    grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/$name.log" &&
        fail "sanitizer report in $name.log"
    return 0
}

ctl() { # ctl NAME args...
    local name=$1
    shift
    "$TANDEMCTL" --control "$T/$name/control.sock" "$@"
}

nbd_uri() { # nbd_uri DAEMON VOLUME
    echo "nbd+unix:///$2?socket=$T/$1/nbd.sock"
}

# A file of random bytes: rand_file PATH SIZE_MIB
rand_file() { head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"; }
