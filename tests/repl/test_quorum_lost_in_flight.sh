#!/usr/bin/env bash
# A write that was in flight when the primary lost its quorum is not acknowledged while it is
# on the primary alone: both links go silent (the fault proxies discard every byte), the peers
# time out, and the write (1 of 3 replicas) is held (default policy) until the links heal and
# a resync puts it on a majority, then it succeeds; under --on-no-quorum io-error it fails with
# EIO. (The majority may already have promoted another primary that would resync the region
# away: an acknowledged write must be on a majority.) Afterwards the replicas converge.
# Zones: three tandemd processes on loopback ports, n2 and n3 reached through fault proxies.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
. "$(dirname "$0")/../lib/faultproxy.sh"
repl_ports
start_node n1 $P1
start_node n2 $P2
start_node n3 $P3
fp_start px2 127.0.0.1:$P2
fp_start px3 127.0.0.1:$P3
ctl n1 volume create r --size 32M --replica n1@127.0.0.1:$P1 --replica n2@$px2_ADDR \
    --replica n3@$px3_ADDR >/dev/null
ctl n1 volume create f --size 32M --replica n1@127.0.0.1:$P1 --replica n2@$px2_ADDR \
    --replica n3@$px3_ADDR --on-no-quorum io-error >/dev/null
wait_in_sync n1 r
wait_in_sync n1 f

fp px2 "blackhole on" >/dev/null
fp px3 "blackhole on" >/dev/null
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x55 1M 64k" >"$T/held.out" 2>&1 &
held=$!
t0=$SECONDS
if out=$(qemu-io -f raw "$(nbd_uri n1 f)" -c "write -P 0x56 1M 64k" 2>&1); then
    fail "io-error policy: a write that reached only the primary was acknowledged: $out"
fi
assert_contains "$out" "Input/output error" "the in-flight write's error"
log "io-error write failed after $((SECONDS - t0))s (peer timeout 3s)"
grep -q "is on too few replicas (quorum lost while it was in flight): failed with EIO" "$T/n1.log" ||
    fail "no log line for the failed write"
grep -q "is on too few replicas (quorum lost while it was in flight): held" "$T/n1.log" ||
    fail "no log line for the held write"
sleep 1 # the held write must still be waiting: nothing but n1 has it
kill -0 $held 2>/dev/null || fail "the held write completed on 1 of 3 replicas: $(cat "$T/held.out")"

fp px2 "blackhole off" >/dev/null
fp px3 "blackhole off" >/dev/null
wait $held || fail "the held write failed after the links healed: $(cat "$T/held.out")"
wait_in_sync n1 r 40
wait_in_sync n1 f 40
assert_replicas_identical r n1 n2 n3
assert_replicas_identical f n1 n2 n3
ctl n1 volume demote r >/dev/null
ctl n2 volume promote r >/dev/null
qemu-io -f raw "$(nbd_uri n2 r)" -c "read -P 0x55 1M 64k" >/dev/null || fail "held write not on n2"
fp_stop px2
fp_stop px3
for n in n1 n2 n3; do stop_daemon $n; done
