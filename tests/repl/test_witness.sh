#!/usr/bin/env bash
# Two data replicas and a diskless witness (proto §11). Status shows the witness (role witness,
# disk Diskless). With n2 cut off, the primary keeps writing with the witness' vote, once the
# witness acknowledged the new generation (status: generation_acked); after healing both data
# replicas hold identical bytes. The witness never receives data: its data file has no block
# allocated and it counted no WRITE/RS_DATA frame; it cannot be promoted, nor serve the export.
# Zones: network namespaces where the machine allows them (n2's zone link goes down while it
# runs), else loopback ports (n2 is killed with -9 and restarted).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
zones_netns n1 n2 w
witness_nodes r 32M
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x10 0 4M" >/dev/null
wait_in_sync n1 r
_w() { rstatus "$1" r | jq -r '.replicas[] | select(.node == "w") | "\(.role) \(.disk) \(.connection)"'; }
assert_eq "witness Diskless Connected" "$(_w n1)" "the witness as the primary sees it"
assert_eq "witness Diskless local" "$(_w w)" "the witness as it sees itself"
assert_contains "$(ctl n1 volume status r)" "witness" "human status names the witness"
snap=$(ctl n1 --json snapshot create r s1)
assert_eq "n1 taken,n2 taken" "$(jq -r '[.snapshot.replicas[] | "\(.node) \(.state)"] | join(",")' <<<"$snap")" \
    "a snapshot is taken on the data replicas only"

if [ "$ZONES" = netns ]; then cut_zone n2; else kill -9 "$n2_PID"; wait "$n2_PID" 2>/dev/null || true; fi
wait_link n1 r n2 Disconnected 15
assert_eq true "$(rstatus n1 r | jq -r .quorum)" "quorum with the witness' vote"
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x21 4M 2M" -c "write -P 0x22 20M 1M" -c flush >/dev/null
gen=$(rstatus n1 r | jq -r .generation)
acked=$(rstatus n1 r | jq -r '.replicas[] | select(.node == "w") | .generation_acked')
assert_eq "$gen" "$acked" "the witness acknowledged the generation the writes were made in"
assert_eq "$gen" "$(rstatus w r | jq -r .generation)" "the witness holds that generation"
if [ "$ZONES" = netns ]; then heal_zone n2; else start_node n2 $P2; fi
wait_in_sync n1 r 40
assert_replicas_identical r n1 n2
qemu-io -f raw "$(nbd_uri n1 r)" -c "read -P 0x10 0 4M" -c "read -P 0x21 4M 2M" \
    -c "read -P 0x22 20M 1M" >/dev/null || fail "bytes on the primary"
ctl n1 volume demote r >/dev/null
ctl n2 volume promote r >/dev/null
qemu-io -f raw "$(nbd_uri n2 r)" -c "read -P 0x21 4M 2M" -c "read -P 0x22 20M 1M" >/dev/null ||
    fail "bytes on n2, written while it was away"

# the witness holds no data, was sent none, and can neither be promoted nor serve
assert_eq 0 "$(stat -c %b "$T/w/volumes/r/data")" "blocks allocated in the witness' data file"
assert_eq 0 "$(rstatus w r | jq -r .data_frames_received)" "data frames that reached the witness"
if out=$(ctl w volume promote r --force 2>&1); then fail "a witness was promoted: $out"; fi
assert_contains "$out" "is a witness for it" "promote on the witness"
if nbdinfo "$(nbd_uri w r)" >/dev/null 2>&1; then fail "the witness serves the export"; fi
assert_contains "$(nbd_go_error w r)" "is a witness for volume r: it holds no data" "export refusal on the witness"
for n in n1 n2 w; do stop_daemon $n; done
