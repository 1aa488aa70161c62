#!/usr/bin/env bash
# fio's nbd engine: random writes at queue depth 32 with crc32c verification, then a separate
# verify-only pass on a new connection.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 128M >/dev/null
common=(--ioengine=nbd --uri="$(nbd_uri n1 v)" --size=64M --bs=4k --iodepth=32
    --verify=crc32c --verify_fatal=1 --randseed=4242 --group_reporting)
fio --name=w --rw=randwrite "${common[@]}" --do_verify=1 --output="$T/fio-w.txt" ||
    { cat "$T/fio-w.txt"; fail "fio write+verify failed"; }
fio --name=w --rw=randwrite "${common[@]}" --verify_only=1 --output="$T/fio-v.txt" ||
    { cat "$T/fio-v.txt"; fail "fio verify-only pass failed"; }
grep -q "err= 0" "$T/fio-v.txt" || fail "fio reported errors: $(cat "$T/fio-v.txt")"
# mixed block sizes, sequential, QD8
fio --name=s --rw=write --ioengine=nbd --uri="$(nbd_uri n1 v)" --offset=64M --size=32M \
    --bsrange=4k-1m --iodepth=8 --verify=crc32c --verify_fatal=1 --do_verify=1 \
    --output="$T/fio-s.txt" || { cat "$T/fio-s.txt"; fail "fio sequential verify failed"; }
stop_daemon n1
