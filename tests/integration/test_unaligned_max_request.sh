#!/usr/bin/env bash
# The largest request we advertise (32 MiB) at an unaligned offset, with O_DIRECT backing:
# its bounce buffer spans 32 MiB plus one alignment unit, which must still come from the pool
# (it used to fail with ENOMEM). Writes and reads at both ends of the volume, verified.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 80M >/dev/null
assert_eq none "$(ctl n1 volume status v --json | jq -r .cache)" "O_DIRECT in effect"
U=$(nbd_uri n1 v)
qio() { qemu-io -f raw "$U" "$@" 2>&1 | tee -a "$T/qemu-io.out"; }

end=$((80 * 1048576))
out=$(qio -c "write -P 0xab 1 32M" -c "write -P 0xcd $((end - 32 * 1048576 - 513)) 32M" -c flush)
if grep -qi "error\|failed" <<<"$out"; then fail "unaligned 32M writes: $out"; fi
assert_eq 2 "$(grep -c "wrote 33554432/33554432" <<<"$out" || true)" "32M writes done"

out=$(qio -c "read -P 0 0 1" -c "read -P 0xab 1 32M" -c "read -P 0 $((32 * 1048576 + 1)) 4095" \
    -c "read -P 0xcd $((end - 32 * 1048576 - 513)) 32M" -c "read -P 0 $((end - 513)) 513")
if grep -qi "pattern verification failed\|error\|failed" <<<"$out"; then fail "verification: $out"; fi
assert_eq 5 "$(grep -c "^read " <<<"$out" || true)" "verified reads"
grep -q "ENOMEM\|out of memory\|Cannot allocate" "$T/n1.log" && fail "ENOMEM in the log"
stop_daemon n1
