#!/usr/bin/env bash
# Quorum: the primary writes only while a majority of the replica set is connected. With both
# secondaries gone, a write is held (default policy) and completes once one returns; a volume
# created with --on-no-quorum io-error fails the write with EIO instead. Reads keep working.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes hold 32M
ctl n1 volume create fail --size 32M "${REPLICAS[@]}" --on-no-quorum io-error >/dev/null
qemu-io -f raw "$(nbd_uri n1 hold)" -c "write -P 0x11 0 1M" >/dev/null
wait_in_sync n1 hold
wait_in_sync n1 fail

kill -9 "$n2_PID" "$n3_PID"
wait "$n2_PID" "$n3_PID" 2>/dev/null || true
no_quorum() { [ "$(rstatus n1 hold | jq -r .quorum)" = false ]; }
wait_until 10 "n1 to lose quorum" no_quorum

# io-error policy: EIO at once
if out=$(qemu-io -f raw "$(nbd_uri n1 fail)" -c "write -P 0x22 0 4k" 2>&1); then
    fail "write without quorum succeeded: $out"
fi
assert_contains "$out" "Input/output error" "io-error policy"
# suspend policy: the write waits
qemu-io -f raw "$(nbd_uri n1 hold)" -c "write -P 0x33 1M 64k" >"$T/held.out" 2>&1 &
held=$!
held_suspended() { [ "$(rstatus n1 hold | jq -r .suspended_writes)" = true ]; }
wait_until 10 "the write to be suspended" held_suspended
kill -0 "$held" 2>/dev/null || fail "the held write finished without quorum: $(cat "$T/held.out")"
qemu-io -f raw "$(nbd_uri n1 hold)" -c "read -P 0x11 0 1M" >/dev/null || fail "reads without quorum"

start_node n2 $P2
wait "$held" || fail "held write failed after quorum returned: $(cat "$T/held.out")"
assert_eq true "$(rstatus n1 hold | jq -r .quorum)" "quorum back"
wait_peer_synced n1 hold n2
qemu-io -f raw "$(nbd_uri n1 hold)" -c "read -P 0x33 1M 64k" >/dev/null || fail "held write lost"
ctl n1 volume demote hold >/dev/null
ctl n2 volume promote hold >/dev/null
qemu-io -f raw "$(nbd_uri n2 hold)" -c "read -P 0x33 1M 64k" -c "read -P 0x11 0 1M" >/dev/null ||
    fail "held write not on the replica that was away"
for n in n1 n2; do stop_daemon $n; done
