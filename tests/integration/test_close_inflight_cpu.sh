#!/usr/bin/env bash
# A connection that closes while a request is still in the volume (here a FLUSH of a few
# hundred MiB of dirty page cache) waits for it without spinning: its socket, shut down on
# both sides, is level-triggered EPOLLHUP, so a watch left registered would wake the reactor
# for nothing until the flush is done. The daemon's CPU time across the wait must stay low.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1 --cache writeback
ctl n1 volume create v --size 512M >/dev/null
for try in 1 2 3; do
    read -r wall cpu < <(/usr/bin/python3 "$(dirname "$0")/close_inflight_cpu.py" \
        "$T/n1/nbd.sock" "$n1_PID" "$T/n1.log" 384)
    log "try $try: flush wait ${wall}s, daemon cpu ${cpu}s"
    # Only a wait long enough to measure says anything; a fast disk may need another go.
    if /usr/bin/python3 -c "import sys; sys.exit(0 if float('$wall') >= 0.2 else 1)"; then
        /usr/bin/python3 -c "import sys; sys.exit(0 if float('$cpu') <= 0.25 * float('$wall') + 0.05 else 1)" ||
            fail "daemon used ${cpu}s of CPU during a ${wall}s wait for an in-flight flush"
        stop_daemon n1
        exit 0
    fi
done
log "the flush never took 0.2 s here; nothing to measure"
stop_daemon n1
