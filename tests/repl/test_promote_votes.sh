#!/usr/bin/env bash
# Promotion needs the votes of a majority that each see no live primary (proto §5). Three data
# replicas, n1 primary; only the n1-n2 link is cut, n3 still sees both. n2 sees no primary and
# has quorum with n3, but n3 is connected to the live n1 and refuses its vote: `promote --force`
# on n2 is refused with a message naming n1 as the primary n3 sees, and n1 keeps serving with
# n3. After healing, all three hold identical bytes. Then n1 really dies (kill -9): n2 is
# promoted with --force and n3's vote.
# Zones: network namespaces where the machine allows them, the cut an iptables DROP between n1
# and n2 in n2's namespace; else loopback ports, the n1-n2 link through the fault proxy (only
# n1 dials n2: the smaller name connects), cut with refuse + drop.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
. "$(dirname "$0")/../lib/faultproxy.sh"
zones_netns n1 n2 n3
repl_ports
start_node n1 $P1
start_node n2 $P2
start_node n3 $P3
n2_addr="$(node_ip n2):$P2"
if [ "$ZONES" = netns ]; then
    cut_12() { cut_link n2 n1; }
    heal_12() { heal_link n2 n1; }
else
    fp_start link "127.0.0.1:$P2"
    n2_addr=$link_ADDR
    cut_12() { fp link "refuse on" "drop" >/dev/null; }
    heal_12() { fp link "refuse off" >/dev/null; }
fi
ctl n1 volume create r --size 32M --replica "n1@$(node_ip n1):$P1" --replica "n2@$n2_addr" \
    --replica "n3@$(node_ip n3):$P3" >/dev/null
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x10 0 4M" >/dev/null
wait_in_sync n1 r
wait_link n2 r n3 Connected

cut_12
wait_link n2 r n1 Disconnected 15
wait_link n1 r n2 Disconnected 15
assert_eq Connected "$(link_state n3 r n1)" "n3 still sees n1"
assert_eq true "$(rstatus n2 r | jq -r .quorum)" "n2 has quorum through n3"
if out=$(ctl n2 volume promote r 2>&1); then fail "n2 promoted without --force: $out"; fi
assert_contains "$out" "the primary n1 is unreachable" "refusal without --force"
if out=$(ctl n2 volume promote r --force 2>&1); then fail "n2 promoted while n1 is alive: $out"; fi
log "refused: $out"
assert_contains "$out" "n3 refuses: it is connected to the primary n1" "refusal names n1 as n3's primary"
assert_contains "$out" "1 of 3 votes" "vote count in the refusal"
assert_eq "secondary primary" "$(rstatus n2 r | jq -r .role) $(rstatus n1 r | jq -r .role)" "roles after the refusal"
grep -q "vote for n2: n3 refuses: it is connected to the primary n1" "$T/n3.log" ||
    fail "no log line for the refused vote on n3"
# n1 keeps serving, with n3's copy for its majority
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x21 8M 2M" -c flush >/dev/null
assert_eq true "$(rstatus n1 r | jq -r .quorum)" "n1 keeps quorum"
heal_12
wait_in_sync n1 r 40
wait_peer_synced n1 r n2
assert_replicas_identical r n1 n2 n3
qemu-io -f raw "$(nbd_uri n1 r)" -c "read -P 0x10 0 4M" -c "read -P 0x21 8M 2M" >/dev/null ||
    fail "bytes written before and during the cut"

# n1 really dies: n3 sees no primary and gives n2 its vote
kill -9 "$n1_PID"
wait "$n1_PID" 2>/dev/null || true
wait_link n2 r n1 Disconnected
wait_link n3 r n1 Disconnected
ctl n2 volume promote r --force >/dev/null
assert_eq primary "$(rstatus n2 r | jq -r .role)" "n2 after the forced promotion"
grep -q "vote granted to n2" "$T/n3.log" || fail "n3 logged no vote for n2"
qemu-io -f raw "$(nbd_uri n2 r)" -c "write -P 0x33 12M 1M" -c flush >/dev/null
wait_peer_synced n2 r n3
assert_replicas_identical r n2 n3
qemu-io -f raw "$(nbd_uri n2 r)" -c "read -P 0x21 8M 2M" -c "read -P 0x33 12M 1M" >/dev/null ||
    fail "bytes on the new primary"
for n in n2 n3; do stop_daemon $n; done
