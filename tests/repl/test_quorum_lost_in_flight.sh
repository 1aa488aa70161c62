#!/usr/bin/env bash
# A write that was in flight when the primary lost its quorum is not acknowledged: both links
# go silent (the fault proxies discard every byte), the peers time out, and the write, which is
# now on the primary alone (1 of 3 replicas), fails with EIO instead of reporting success.
# (The majority may already have promoted another primary that would resync it away: an
# acknowledged write must be on a majority.) When the links heal, the replicas converge.
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
wait_in_sync n1 r
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x11 0 4M" >/dev/null

fp px2 "blackhole on" >/dev/null
fp px3 "blackhole on" >/dev/null
t0=$SECONDS
if out=$(qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x55 1M 64k" 2>&1); then
    fail "a write that reached only the primary was acknowledged: $out"
fi
assert_contains "$out" "Input/output error" "the in-flight write's error"
log "failed after $((SECONDS - t0))s (peer timeout 3s)"
grep -q "reached 1 of 3 replicas (quorum lost while it was in flight)" "$T/n1.log" ||
    fail "no log line for the failed write"

fp px2 "blackhole off" >/dev/null
fp px3 "blackhole off" >/dev/null
wait_in_sync n1 r 40
assert_replicas_identical r n1 n2 n3
fp_stop px2
fp_stop px3
for n in n1 n2 n3; do stop_daemon $n; done
