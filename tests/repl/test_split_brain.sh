#!/usr/bin/env bash
# Split brain, made the only way the rules allow it: an operator overrides quorum on a lone
# replica (promote --force --no-quorum, the disaster-recovery escape hatch) while the other
# two, unseen, promote and write too. When they meet, the generation ids show that both sides
# wrote: every link says SplitBrain, `status` says so loudly, nothing is exchanged (both data
# files keep their own bytes). `resolve --discard-local` on the victim makes it a resync target
# of the survivor: the union of both sides' changed regions is copied, and all three replicas
# end byte-identical with the survivor's data.
# Zones: network namespaces where the machine allows them (n1's zone is cut off while every
# process runs, and both sides write at the same time), else loopback ports (the zones that
# are away are killed with -9 and restarted).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
zones_netns n1 n2 n3
three_nodes r 64M
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x10 0 8M" >/dev/null
wait_in_sync n1 r

# n1 alone: without quorum its writes are held; the override lets it write
if [ "$ZONES" = netns ]; then
    cut_zone n1
else
    kill -9 "$n2_PID" "$n3_PID"
    wait "$n2_PID" "$n3_PID" 2>/dev/null || true
fi
no_quorum() { [ "$(rstatus n1 r | jq -r .quorum)" = false ]; }
wait_until 10 "n1 to lose quorum" no_quorum
if out=$(ctl n1 volume promote r --no-quorum 2>&1); then fail "--no-quorum without --force"; fi
ctl n1 volume promote r --force --no-quorum >/dev/null
assert_eq true "$(rstatus n1 r | jq -r .quorum_override)" "override in status"
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x31 2M 1M" -c flush >/dev/null
grep -q "writing WITHOUT QUORUM" "$T/n1.log" || fail "no log line for the override"
if [ "$ZONES" != netns ]; then
    stop_daemon n1
    start_node n2 $P2
    start_node n3 $P3
fi
victim=$(data_sum n1 r)

# the other side, without n1, promotes and writes other regions
wait_link n2 r n3 Connected
wait_link n2 r n1 Disconnected
wait_link n3 r n1 Disconnected # n3's vote needs it not to see the primary n1 (proto §5)
ctl n2 volume promote r --force >/dev/null
qemu-io -f raw "$(nbd_uri n2 r)" -c "write -P 0x42 4M 2M" -c flush >/dev/null
wait_peer_synced n2 r n3
survivor=$(data_sum n2 r)

# they meet: split brain, loudly, and nothing moves
if [ "$ZONES" = netns ]; then heal_zone n1; else start_node n1 $P1; fi
wait_link n2 r n1 SplitBrain
wait_link n1 r n2 SplitBrain
wait_link n1 r n3 SplitBrain
for n in n1 n2; do
    assert_eq true "$(rstatus $n r | jq -r .split_brain)" "split_brain on $n"
    assert_contains "$(ctl $n volume status r)" "!!! SPLIT BRAIN on r" "human status on $n"
done
grep -q "SPLIT BRAIN with n2" "$T/n1.log" || fail "no split-brain log line on n1"
sleep 1 # a second of chances to merge anything: it must not
assert_eq "$victim" "$(data_sum n1 r)" "victim's data untouched during split brain"
assert_eq "$survivor" "$(data_sum n2 r)" "survivor's data untouched during split brain"
# the survivor keeps writing (it has quorum with n3)
qemu-io -f raw "$(nbd_uri n2 r)" -c "write -P 0x43 40M 1M" -c flush >/dev/null
survivor=$(data_sum n2 r)

if out=$(ctl n2 volume resolve r 2>&1); then fail "resolve without --discard-local"; fi
ctl n1 volume resolve r --discard-local >/dev/null
wait_in_sync n2 r 40
assert_eq false "$(rstatus n2 r | jq -r .split_brain)" "split brain over on n2"
assert_eq false "$(rstatus n1 r | jq -r .split_brain)" "split brain over on n1"
assert_eq "secondary UpToDate" "$(rstatus n1 r | jq -r '"\(.role) \(.disk)"')" "victim after resync"
# what was copied: the union of both sides' changes (n1's region 2, n2's regions 4, 5 and 40);
# after a restart also the regions n1 still held in its write-intent bitmap (0-7: written under
# a second before its peers vanished, cleared only after 5 s of calm with every replica there)
sent=$(rstatus n2 r | jq '.replicas[] | select(.node == "n1") | .resync.bytes_sent')
if [ "$ZONES" = netns ]; then
    assert_eq $((4 * 1048576)) "$sent" "resync bytes: regions 2, 4, 5 and 40"
else
    assert_eq $((9 * 1048576)) "$sent" "resync bytes: regions 0-7 and 40"
fi
assert_eq "$survivor" "$(data_sum n1 r)" "victim now holds the survivor's data"
assert_replicas_identical r n2 n1 n3
qemu-io -f raw "$(nbd_uri n2 r)" -c "read -P 0x10 2M 1M" -c "read -P 0x42 4M 2M" >/dev/null ||
    fail "survivor's bytes"
for n in n1 n2 n3; do stop_daemon $n; done
