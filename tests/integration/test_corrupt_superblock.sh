#!/usr/bin/env bash
# A corrupt, foreign or future-version superblock is refused with a clear error, never served,
# never overwritten; the other volumes keep working.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
for v in good flipped foreign future; do ctl n1 volume create $v --size 4M >/dev/null; done
qemu-io -f raw "$(nbd_uri n1 good)" -c "write -P 0x42 0 1M" >/dev/null
stop_daemon n1
V=$T/n1/volumes
printf '\x01' | dd of="$V/flipped/superblock" bs=1 seek=40 conv=notrunc status=none   # block size byte
printf 'EXT4FSXX' | dd of="$V/foreign/superblock" bs=1 seek=0 conv=notrunc status=none
/usr/bin/python3 "$TANDEM_ROOT/tests/lib/superblock_edit.py" "$V/future/superblock" version 9
before=$(sha256sum "$V"/*/superblock)
start_daemon n1
st() { ctl n1 volume status "$1" --json | jq -r '"\(.state): \(.error // "")"'; }
assert_contains "$(st flipped)" "broken: " "flipped state"
assert_contains "$(st flipped)" "checksum mismatch" "flipped reason"
assert_contains "$(st foreign)" "not a Tandem superblock" "foreign reason"
assert_contains "$(st future)" "format version 9" "future reason"
assert_eq "ready: " "$(st good)" "good volume"
for v in flipped foreign future; do
    if nbdinfo "$(nbd_uri n1 $v)" >/dev/null 2>&1; then fail "broken volume $v was served"; fi
    if ctl n1 volume create $v --size 4M >/dev/null 2>"$T/err"; then fail "create over broken $v"; fi
    assert_contains "$(cat "$T/err")" "unusable" "create over broken $v"
done
grep -q "volume flipped is unusable: .*checksum mismatch" "$T/n1.log" || fail "no log line for the corrupt volume"
qemu-io -f raw "$(nbd_uri n1 good)" -c "read -P 0x42 0 1M" >/dev/null || fail "good volume damaged"
stop_daemon n1
assert_eq "$before" "$(sha256sum "$V"/*/superblock)" "superblocks untouched"
# the operator may delete a broken volume on purpose
start_daemon n1
ctl n1 volume delete flipped >/dev/null
[ ! -e "$V/flipped" ] || fail "broken volume not deleted"
stop_daemon n1
