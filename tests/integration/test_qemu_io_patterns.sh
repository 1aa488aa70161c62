#!/usr/bin/env bash
# qemu-io writes patterns (aligned, unaligned, FUA, zeroes, discard) through tandemd and reads
# every one back with verification; then a second client reads them after a reconnect.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 64M >/dev/null
U=$(nbd_uri n1 v)
qio() { qemu-io -f raw "$U" "$@" 2>&1 | tee -a "$T/qemu-io.out"; }

out=$(qio -c "write -P 0xa1 0 1M" -c "write -P 0xb2 1M 4k" -c "write -f -P 0xc3 2M 64k" \
    -c "write -P 0xd4 3000 5000" -c "write -P 0xe5 $((8 * 1048576 + 511)) 1" \
    -c "write -P 0x5a 16M 8M" -c "write -z 20M 1M" -c "discard 22M 1M" -c "flush")
assert_contains "$out" "wrote 8388608/8388608" "8M write"
if grep -q "error\|failed" <<<"$out"; then fail "qemu-io reported an error: $out"; fi

out=$(qio -c "read -P 0xa1 0 3000" -c "read -P 0xd4 3000 5000" -c "read -P 0xa1 8000 $((1048576 - 8000))" \
    -c "read -P 0xb2 1M 4k" -c "read -P 0xc3 2M 64k" -c "read -P 0xe5 $((8 * 1048576 + 511)) 1" \
    -c "read -P 0 $((8 * 1048576)) 511" -c "read -P 0x5a 16M 4M" -c "read -P 0 20M 1M" \
    -c "read -P 0x5a 21M 1M" -c "read -P 0 22M 1M" -c "read -P 0x5a 23M 1M" -c "read -P 0 60M 4M")
n=$(grep -c "^read " <<<"$out" || true)
assert_eq 13 "$n" "verified reads"
if grep -qi "pattern verification failed\|error" <<<"$out"; then fail "verification: $out"; fi

st=$(ctl n1 volume status v --json)
unaligned=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["io"]["unaligned"])' <<<"$st")
[ "$unaligned" -ge 1 ] || fail "unaligned requests were not counted: $st"
stop_daemon n1
