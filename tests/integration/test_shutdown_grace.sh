#!/usr/bin/env bash
# SIGTERM with a client that has stopped reading its replies: the daemon gives it the grace
# period (--nbd-shutdown-grace, here 3 s; default 10 s) to take them, then drops them,
# closes the connection and exits with status 0 instead of waiting forever.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1 --nbd-shutdown-grace 3
ctl n1 volume create v --size 64M >/dev/null
secs=$(timeout 30 /usr/bin/python3 "$(dirname "$0")/stalled_reader.py" "$T/n1/nbd.sock" "$n1_PID" 400) ||
    fail "the stalled client was never disconnected"
log "connection closed ${secs}s after SIGTERM"
/usr/bin/python3 -c "import sys; sys.exit(0 if 2.5 <= float('$secs') <= 8 else 1)" ||
    fail "closed ${secs}s after SIGTERM; want the 3 s grace period (+ a timer tick)"
# SIGTERM was sent by the helper: the daemon must now finish on its own, cleanly.
wait_until 10 "tandemd to exit after dropping the replies" sh -c "! kill -0 $n1_PID"
rc=0
wait "$n1_PID" || rc=$?
assert_eq 0 "$rc" "exit status"
grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/n1.log" && fail "sanitizer report"
grep -q "shutdown grace period over, [0-9]* replies not taken dropped" "$T/n1.log" ||
    fail "no log line for the dropped replies"
grep -q "stopped" "$T/n1.log" || fail "no orderly stop"
