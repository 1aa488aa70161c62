#!/usr/bin/env bash
# The primary is cut away from the majority (frozen with SIGSTOP, so its sockets stay open and
# only silence gives it away): the other two detect it within the peer timeout, one is
# promoted and takes writes. When the old primary wakes, the generation ids show it is behind
# (it wrote nothing alone): it demotes itself and takes a clean resync, no split brain.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes r 64M
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x10 0 8M" >/dev/null
wait_in_sync n1 r
kill -STOP "$n1_PID"
on_exit "kill -CONT $n1_PID"
t0=$SECONDS
wait_link n2 r n1 Disconnected 15
log "n2 dropped the silent primary after $((SECONDS - t0))s (peer timeout 3s)"
ctl n2 volume promote r --force >/dev/null
qemu-io -f raw "$(nbd_uri n2 r)" -c "write -P 0x20 4M 2M" -c "write -P 0x21 30M 1M" >/dev/null
kill -CONT "$n1_PID"
_CLEANUP=()
wait_in_sync n2 r 40
assert_eq secondary "$(rstatus n1 r | jq -r .role)" "woken primary"
assert_eq false "$(rstatus n2 r | jq -r .split_brain)" "no split brain"
assert_replicas_identical r n2 n1 n3
for n in n1 n2 n3; do stop_daemon $n; done
