#!/usr/bin/env bash
# A full backing filesystem: a sparse 64 MiB volume on a 16 MiB tmpfs. Writes that need space
# fail with ENOSPC (the NBD error the protocol asks for), the connection and the daemon carry
# on, and every write acknowledged before is still there; freeing space (TRIM) makes writes
# succeed again.
. "$(dirname "$0")/../lib/common.sh"
mkdir -p "$T/small"
mount -t tmpfs -o size=16m tmpfs "$T/small" || { echo "cannot mount tmpfs here"; exit 77; }
on_exit "umount $T/small"
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
kill -TERM "$n1_PID"
wait "$n1_PID" || fail "unclean exit"
grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T/n1.log" && fail "sanitizer report"
exit 0
