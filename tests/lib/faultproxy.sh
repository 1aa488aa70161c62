# shellcheck shell=bash
# Helpers for tests/tools/tcp_fault_proxy (docs/fault-proxy.md). Source after common.sh:
#   . "$(dirname "$0")/../lib/common.sh"
#   . "$(dirname "$0")/../lib/faultproxy.sh"
#   fp_start p 127.0.0.1:$PORT          # proxy NAME in front of TARGET; sets p_PID, p_ADDR, p_PORT
#   fp p "delay 2000" "stall on"        # control commands; prints the answers, fails on "err"
#   fp_stat p up_bytes                  # one number out of "stats"
#   fp_stop p                           # SIGTERM, bounded wait, clean exit, no sanitizer report
# Control socket $T/NAME.ctl, log $T/NAME.log (shown by common.sh when a test fails).
FAULT_PROXY=${FAULT_PROXY:-$TANDEM_BIN/tools/tcp_fault_proxy}

# fp_start NAME TARGET [--listen HOST:PORT] [--delay-us N] [--seed N]
# Listens on an ephemeral 127.0.0.1 port unless --listen is given.
fp_start() {
    local name=$1 target=$2
    shift 2
    [ -x "$FAULT_PROXY" ] || fail "$FAULT_PROXY not built (make build/asan/tools/tcp_fault_proxy)"
    local listen=127.0.0.1:0
    if [ "${1:-}" = --listen ]; then
        listen=$2
        shift 2
    fi
    "$FAULT_PROXY" --listen "$listen" --target "$target" --control "$T/$name.ctl" "$@" \
        >>"$T/$name.log" 2>&1 &
    local pid=$!
    _PIDS+=("$pid")
    eval "${name}_PID=$pid"
    wait_until 10 "fault proxy $name to come up" "$FAULT_PROXY" ctl "$T/$name.ctl" addr
    local addr
    addr=$("$FAULT_PROXY" ctl "$T/$name.ctl" addr)
    addr=${addr#ok }
    eval "${name}_ADDR=$addr ${name}_PORT=${addr##*:}"
}

# fp NAME CMD...: one command per argument, answers on stdout; non-zero if one answered "err".
fp() {
    local name=$1
    shift
    "$FAULT_PROXY" ctl "$T/$name.ctl" "$@" || fail "fault proxy $name: '$*' failed"
}

# fp_stat NAME KEY: the value of KEY (conns, up_bytes, down_bytes, resets, corrupted, active,
# refused, queued_up, queued_down) from "stats".
fp_stat() {
    local out
    out=$(fp "$1" stats)
    local v
    v=$(tr ' ' '\n' <<<"$out" | sed -n "s/^$2=//p")
    [ -n "$v" ] || fail "fault proxy $1: no '$2' in: $out"
    echo "$v"
}

# fp_stop NAME: SIGTERM and wait (bounded) for exit 0; fails on a sanitizer report in its log.
fp_stop() {
    local name=$1 pid rc=0
    eval "pid=\${${name}_PID}"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "fault proxy $name did not exit within 10s of SIGTERM"
        sleep 0.05
    done
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || fail "fault proxy $name exited with status $rc"
    if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/$name.log"; then
        fail "sanitizer report in $name.log"
    fi
    return 0
}
