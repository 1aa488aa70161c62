#!/usr/bin/env bash
# A secondary is cut off while the primary keeps writing; when it returns, the resync sends
# only the regions written meanwhile (1 MiB each): the resync byte count is within 10% of the
# dirty regions' size, and afterwards the replicas are byte-identical.
# Zones: network namespaces where the machine allows them (n3's zone link goes down and comes
# back up, the process lives on), else loopback ports (n3 is killed with -9 and restarted).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
zones_netns n1 n2 n3
three_nodes r 256M
rand_file "$T/img" 64
nbdcopy "$T/img" "$(nbd_uri n1 r)"
wait_in_sync n1 r
if [ "$ZONES" = netns ]; then
    cut_zone n3
else
    kill -9 "$n3_PID"
    wait "$n3_PID" 2>/dev/null || true
fi

# 20 scattered 4 KiB writes in 20 distinct regions, plus 4 MiB sequential: 24 regions dirty
cmds=()
for i in $(seq 0 19); do cmds+=(-c "write -P $((i + 1)) $(((i * 9 + 3) * 1048576 + 8192)) 4k"); done
cmds+=(-c "write -P 0x99 200M 4M" -c flush)
qemu-io -f raw "$(nbd_uri n1 r)" "${cmds[@]}" >/dev/null # held until n3 is dropped (timeout)
wait_link n1 r n3 Disconnected
dirty=$(rstatus n1 r | jq '.replicas[] | select(.node == "n3") | .out_of_sync_bytes')
assert_eq $((24 * 1048576)) "$dirty" "out-of-sync bytes recorded for n3"
# n2 stayed connected: nothing to resync there
assert_eq 0 "$(rstatus n1 r | jq '.replicas[] | select(.node == "n2") | .out_of_sync_bytes')" "n2 oos"

if [ "$ZONES" = netns ]; then heal_zone n3; else start_node n3 $P3; fi
wait_in_sync n1 r 40
sent=$(rstatus n1 r | jq '.replicas[] | select(.node == "n3") | .resync.bytes_sent')
log "resync sent $sent bytes for $dirty dirty bytes"
[ "$sent" -ge "$dirty" ] && [ "$sent" -le $((dirty + dirty / 10)) ] ||
    fail "resync sent $sent bytes, want within 10% of $dirty"
assert_eq UpToDate "$(rstatus n3 r | jq -r .disk)" "n3 disk after resync"
assert_replicas_identical r n1 n2 n3
# and the resynced replica serves the right bytes once promoted
ctl n1 volume demote r >/dev/null
ctl n3 volume promote r >/dev/null
qemu-io -f raw "$(nbd_uri n3 r)" -c "read -P 0x99 200M 4M" -c "read -P 20 $(((19 * 9 + 3) * 1048576 + 8192)) 4k" >/dev/null ||
    fail "data on the resynced replica"
for n in n1 n2 n3; do stop_daemon $n; done
