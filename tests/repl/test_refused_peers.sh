#!/usr/bin/env bash
# Peers that must not be believed: a frame damaged in transit (one bit flipped by the fault
# proxy) is refused, never applied, and the connection recovers through a resync; a replica
# whose volume UUID differs is refused (StandAlone, with the reason in status and the log).
# Zones: two tandemd processes on loopback ports, n2 reached through tests/tools/tcp_fault_proxy.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
. "$(dirname "$0")/../lib/faultproxy.sh"
repl_ports
start_node n1 $P1
start_node n2 $P2
fp_start px 127.0.0.1:$P2
ctl n1 volume create r --size 32M --replica n1@127.0.0.1:$P1 --replica n2@$px_ADDR >/dev/null
wait_in_sync n1 r
# flip one bit a little way into the next frames n1 sends to n2 (inside a WRITE payload)
fp px "corrupt up 70000"
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x44 0 1M" -c flush >/dev/null
grep_ck() { grep -q "checksum mismatch" "$T/n2.log"; }
wait_until 10 "n2 to refuse the damaged frame" grep_ck
wait_in_sync n1 r 30
assert_replicas_identical r n1 n2
assert_eq 1 "$(fp_stat px corrupted)" "bits flipped by the proxy"

# a replica with another UUID under the same name
stop_daemon n2
/usr/bin/python3 "$TANDEM_ROOT/tests/lib/superblock_edit.py" "$T/n2/volumes/r/superblock" flip-uuid
start_node n2 $P2
wait_link n1 r n2 StandAlone 20
assert_contains "$(rstatus n1 r | jq -r '.replicas[] | select(.node == "n2") | .error')" "volume UUID" "reason"
grep -q "refusing n2: peer announced volume UUID" "$T/n1.log" || fail "no log line for the wrong UUID"
fp_stop px
for n in n1 n2; do stop_daemon $n; done
