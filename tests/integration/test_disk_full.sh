#!/usr/bin/env bash
# A full backing filesystem: a sparse 64 MiB volume on a 16 MiB tmpfs. Writes that need space
# fail with ENOSPC (the NBD error the protocol asks for), the connection and the daemon carry
# on, and every write acknowledged before is still there; freeing space (TRIM) makes writes
# succeed again. With a snapshot, a write with no room for its copy fails the same way and the
# snapshot keeps its image.
. "$(dirname "$0")/../lib/common.sh"
mkdir -p "$T/small"
mount -t tmpfs -o size=16m tmpfs "$T/small" || { echo "cannot mount tmpfs here"; exit 77; }
on_exit "umount -l $T/small" # lazy: the daemon on it is killed after the hooks run
"$TANDEMD" --data-dir "$T/small/n1" --node n1 --io-engine "$TANDEM_IO_ENGINE" \
    --control "$T/ctl.sock" --nbd "$T/nbd.sock" >"$T/n1.log" 2>&1 &
n1_PID=$!
_PIDS+=("$n1_PID")
wait_until 20 "tandemd" "$TANDEMCTL" --control "$T/ctl.sock" node status
"$TANDEMCTL" --control "$T/ctl.sock" volume create big --size 64M >/dev/null
U="nbd+unix:///big?socket=$T/nbd.sock"
qemu-io -f raw "$U" -c "write -P 0x21 0 8M" -c flush >/dev/null || fail "first 8 MiB"
out=$(qemu-io -f raw "$U" -c "write -P 0x22 8M 16M" 2>&1) && fail "a 16 MiB write fit in the 8 MiB left"
assert_contains "$out" "No space left on device" "error for a full disk"
grep -q "failed: No space left on device" "$T/n1.log" || fail "no log line for ENOSPC"
qemu-io -f raw "$U" -c "read -P 0x21 0 8M" >/dev/null || fail "acknowledged data damaged by the failed write"
qemu-io -f raw "$U" -c "discard 0 8M" -c "write -P 0x23 40M 4M" -c "read -P 0x23 40M 4M" >/dev/null ||
    fail "writes after freeing space"
# With a snapshot, an overwrite needs room for the copy of what it replaces too. When that room
# runs out, the write fails with ENOSPC and the snapshot keeps exactly its image; deleting the
# snapshot frees the copies and the overwrite then succeeds.
C=("$TANDEMCTL" --control "$T/ctl.sock")
qemu-io -f raw "$U" -c "discard 8M 16M" -c "write -P 0x24 0 8M" -c flush >/dev/null || fail "8 MiB before the snapshot"
"${C[@]}" snapshot create big s1 >/dev/null
out=$(qemu-io -f raw "$U" -c "write -P 0x25 0 8M" 2>&1) && fail "8 MiB of copies fit in the space left"
assert_contains "$out" "No space left on device" "error when the copy-before-write has no room"
head -c 64M /dev/zero >"$T/want.img"
for r in "0x24 0 8" "0x23 40 4"; do
    set -- $r
    head -c $(($3 << 20)) /dev/zero | tr '\0' "\\$(printf '%o' "$1")" |
        dd of="$T/want.img" bs=1M seek="$2" conv=notrunc status=none
done
"${C[@]}" snapshot export big s1 --to "$T/exp.img" --wait >/dev/null || fail "export after ENOSPC"
cmp "$T/want.img" "$T/exp.img" || fail "the snapshot changed when a write ran out of room for its copy"
"${C[@]}" snapshot delete big s1 >/dev/null
qemu-io -f raw "$U" -c "write -P 0x25 0 8M" -c "read -P 0x25 0 8M" >/dev/null ||
    fail "the overwrite after deleting the snapshot"
kill -TERM "$n1_PID"
wait "$n1_PID" || fail "unclean exit"
grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/n1.log" && fail "sanitizer report"
exit 0
