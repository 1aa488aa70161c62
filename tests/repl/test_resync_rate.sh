#!/usr/bin/env bash
# --resync-rate caps resync bandwidth: 24 MiB dirty at 8 MB/s takes about 3 s (asserted with
# generous bounds: at least 2 s, so the cap holds within ~50%, and done within 40 s), while
# application writes to other regions keep completing during the resync; the resync
# converges and the replicas end byte-identical.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
repl_ports
start_node n1 $P1 --resync-rate 8
start_node n2 $P2
start_node n3 $P3
ctl n1 volume create r --size 64M --replica n1@127.0.0.1:$P1 --replica n2@127.0.0.1:$P2 \
    --replica n3@127.0.0.1:$P3 >/dev/null
wait_in_sync n1 r
kill -9 "$n3_PID"
wait "$n3_PID" 2>/dev/null || true
wait_link n1 r n3 Disconnected
rand_file "$T/img" 24
nbdcopy "$T/img" "$(nbd_uri n1 r)"
assert_eq $((24 << 20)) "$(rstatus n1 r | jq '.replicas[] | select(.node == "n3") | .out_of_sync_bytes')" "dirty"

start_node n3 $P3
_syncing() { [ "$(link_state n1 r n3)" = SyncSource ]; }
wait_until 20 "the resync to start" _syncing
t0=$(date +%s%3N)
# application writes during the resync, each timed
for i in 1 2 3 4 5; do
    s=$(date +%s%3N)
    qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P $((0x70 + i)) $((40 + i))M 256k" >/dev/null ||
        fail "application write $i during the resync"
    log "write $i during the resync: $(($(date +%s%3N) - s)) ms"
done
[ "$(link_state n1 r n3)" = SyncSource ] || fail "the resync ended before the writes did: no overlap"
wait_in_sync n1 r 40
dt=$(($(date +%s%3N) - t0))
sent=$(rstatus n1 r | jq '.replicas[] | select(.node == "n3") | .resync.bytes_sent')
log "resync: $sent bytes in $dt ms at --resync-rate 8 (MB/s)"
[ "$sent" -ge $((24 << 20)) ] || fail "resync sent $sent bytes, want at least the dirty 24 MiB"
[ "$dt" -ge 2000 ] || fail "resync of $sent bytes took $dt ms: faster than 8 MB/s allows"
assert_replicas_identical r n1 n2 n3
for n in n1 n2 n3; do stop_daemon $n; done
