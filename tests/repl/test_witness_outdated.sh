#!/usr/bin/env bash
# Why a witness keeps generation ids (proto §11): data replicas A (n1), B (n2), witness W. B is
# down; A writes with W's vote; A dies; B returns. B and W are a quorum, and only W's
# generation ids can tell B that it is behind: B goes Outdated, says why in status, and its
# promotion is refused with that reason (not promotable). When A comes back, B resyncs from A
# and the two hold identical bytes.
# Zones: network namespaces where the machine allows them, else loopback ports; nodes die by
# kill -9 either way.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
zones_netns n1 n2 w
witness_nodes r 32M
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x10 0 4M" >/dev/null
wait_in_sync n1 r

kill -9 "$n2_PID"
wait "$n2_PID" 2>/dev/null || true
wait_link n1 r n2 Disconnected
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x30 8M 2M" -c flush >/dev/null
assert_eq "$(rstatus n1 r | jq -r .generation)" "$(rstatus w r | jq -r .generation)" \
    "W holds A's new generation"
a_sum=$(data_sum n1 r)
kill -9 "$n1_PID"
wait "$n1_PID" 2>/dev/null || true

start_node n2 $P2
wait_link n2 r w Connected
_outdated() { [ "$(rstatus n2 r | jq -r .disk)" = Outdated ]; }
wait_until 10 "B to learn from W that it is behind" _outdated
assert_eq true "$(rstatus n2 r | jq -r .quorum)" "B and W are a quorum"
assert_contains "$(rstatus n2 r | jq -r .disk_reason)" "the witness w holds generation" "status says why"
if out=$(ctl n2 volume promote r --force 2>&1); then fail "the outdated B was promoted: $out"; fi
log "refused: $out"
assert_contains "$out" "local data is Outdated" "promote refusal"
assert_contains "$out" "the witness w holds generation" "promote refusal says why"
assert_eq secondary "$(rstatus n2 r | jq -r .role)" "B's role"

start_node n1 $P1
wait_in_sync n1 r 40
assert_eq "primary UpToDate" "$(rstatus n1 r | jq -r '"\(.role) \(.disk)"')" "A back"
assert_eq "secondary UpToDate" "$(rstatus n2 r | jq -r '"\(.role) \(.disk)"')" "B after its resync"
assert_eq "$a_sum" "$(data_sum n2 r)" "B holds A's bytes"
assert_replicas_identical r n1 n2
qemu-io -f raw "$(nbd_uri n1 r)" -c "read -P 0x10 0 4M" -c "read -P 0x30 8M 2M" >/dev/null ||
    fail "A's acknowledged writes"
for n in n1 n2 w; do stop_daemon $n; done
