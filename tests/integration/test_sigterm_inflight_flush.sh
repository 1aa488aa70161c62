#!/usr/bin/env bash
# SIGTERM while a FLUSH is in flight: the flush is answered, the connection closes, and the
# daemon exits promptly with status 0, three times over. The last connection goes away from
# the reply-sending idle hook, just before the loop would sleep; the loop must notice the stop
# there rather than sleep until a timer wakes it. (The daemon's timers tick every 100 ms, so
# this test cannot tell such a sleep from the exit's own work; unit/test_loop can.)
. "$(dirname "$0")/../lib/common.sh"
ms() { # ms LOGLINE-PATTERN: the millisecond of the day of the first log line matching it
    grep -m1 "$1" "$T/n1.log" | sed -E 's/^[0-9-]+T([0-9]+):([0-9]+):([0-9]+)\.([0-9]+)Z.*/\1 \2 \3 \4/' |
        { read -r h m s f && echo $(((10#$h * 3600 + 10#$m * 60 + 10#$s) * 1000 + 10#$f)); }
}
for round in 1 2 3; do
    : >"$T/n1.log"
    start_daemon n1 --cache writeback
    [ $round -gt 1 ] || ctl n1 volume create v --size 512M >/dev/null
    /usr/bin/python3 "$(dirname "$0")/sigterm_flush.py" "$T/n1/nbd.sock" "$n1_PID" 128 ||
        fail "FLUSH in flight at SIGTERM was not answered"
    wait_until 10 "tandemd to exit after SIGTERM" sh -c "! kill -0 $n1_PID"
    rc=0
    wait "$n1_PID" || rc=$?
    assert_eq 0 "$rc" "exit status"
    grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/n1.log" && fail "sanitizer report"
    t_sig=$(ms "shutting down") t_closed=$(ms "disconnected: server shutting down") t_stop=$(ms "tandemd: stopped")
    log "round $round: flush answered $((t_closed - t_sig)) ms after SIGTERM, stopped $((t_stop - t_closed)) ms after the close"
    [ $((t_stop - t_closed)) -lt 500 ] || fail "stopped $((t_stop - t_closed)) ms after the last connection closed"
done
