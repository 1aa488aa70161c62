#!/usr/bin/env bash
# Online verify: `tandemctl volume verify` on the primary compares a SHA-256 of every 1 MiB
# region with each in-sync peer. Clean replicas verify clean, also while fio keeps writing (the
# comparison is ordered in the write stream, so concurrent writes cause no false mismatches).
# A byte flipped in a secondary's data file behind its back is found: exactly that region on
# exactly that node, marked out of sync and resynced, after which the replicas are identical.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes r 64M
rand_file "$T/img" 24
nbdcopy "$T/img" "$(nbd_uri n1 r)"
wait_in_sync n1 r

ctl n1 volume verify r --json >"$T/v1.json" || fail "clean replicas: verify failed: $(cat "$T/v1.json")"
assert_eq "64 0" "$(jq -r '"\(.regions_done) \(.mismatched_regions)"' "$T/v1.json")" "clean verify"
assert_eq "n2 n3" "$(jq -r '[.peers[].node] | join(" ")' "$T/v1.json")" "peers compared"

# with writes going on: no false mismatch
fio --name=w --ioengine=nbd --uri="$(nbd_uri n1 r)" --rw=randwrite --bs=4k --size=64M \
    --iodepth=16 --time_based --runtime=20 --output="$T/fio.txt" &
fio_pid=$!
on_exit "kill $fio_pid"
_writing() { [ "$(rstatus n1 r | jq .io.writes)" -gt 2000 ]; }
wait_until 20 "fio to be writing" _writing
ctl n1 volume verify r --json >"$T/v2.json" || fail "verify under writes: $(cat "$T/v2.json")"
kill -0 $fio_pid || fail "fio ended before verify did: nothing was concurrent"
assert_eq "64 0" "$(jq -r '"\(.regions_done) \(.mismatched_regions)"' "$T/v2.json")" "verify under load"
log "verify under load: $(jq .elapsed_ms "$T/v2.json") ms"
kill $fio_pid
wait $fio_pid 2>/dev/null || true
_CLEANUP=()
wait_in_sync n1 r
assert_replicas_identical r n1 n2 n3

# one byte flipped on n2's disk, region 5, while n2 runs
off=$((5 * 1048576 + 123457))
byte=$(od -An -tu1 -j $off -N1 "$T/n2/volumes/r/data" | tr -d ' ')
printf "\\$(printf %o $((255 - byte)))" | dd of="$T/n2/volumes/r/data" bs=1 seek=$off conv=notrunc 2>/dev/null
sync
[ "$(data_sum n1 r)" != "$(data_sum n2 r)" ] || fail "the corruption did not take"
if ctl n1 volume verify r >"$T/v3.txt"; then fail "verify missed the flipped byte: $(cat "$T/v3.txt")"; fi
cat "$T/v3.txt"
assert_contains "$(cat "$T/v3.txt")" "differs: node n2 region 5 (offset 5242880" "report names the region"
vf=$(rstatus n1 r | jq -c .verify)
assert_eq '[{"node":"n2","region":5}]' "$(jq -c '[.mismatches[] | {node, region}]' <<<"$vf")" "mismatch list"
assert_eq "1 0" "$(jq -r '[.peers[].mismatched_regions] | join(" ")' <<<"$vf")" "per-peer counts"
# the region was marked out of sync and resynced from the primary
wait_in_sync n1 r
assert_eq $((1048576)) "$(rstatus n1 r | jq '.replicas[] | select(.node == "n2") | .resync.bytes_sent')" "resync of the bad region"
assert_replicas_identical r n1 n2 n3
ctl n1 volume verify r >/dev/null || fail "verify after the repair"

# verify belongs to the primary
if out=$(ctl n2 volume verify r 2>&1); then fail "a secondary ran verify"; fi
assert_contains "$out" "verify runs on the primary" "refusal on a secondary"
for n in n1 n2 n3; do stop_daemon $n; done
