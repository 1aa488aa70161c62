#!/usr/bin/env bash
# fio's nbd engine: random writes at queue depth 32 with crc32c verification, then a separate
# verify-only pass on a new connection; then mixed block sizes. Once per cache mode: O_DIRECT
# writes go through the kernel queue, page-cache writes are copied inline as they are parsed
# (io/io_engine.h IO_F_INLINE), two different completion paths.
. "$(dirname "$0")/../lib/common.sh"
for cache in none writeback; do
    n=n_$cache
    start_daemon "$n" --cache "$cache"
    ctl "$n" volume create v --size 128M >/dev/null
    ctl "$n" volume status v | grep -Eq "^cache: +$cache\$" || fail "$n: volume is not in cache mode $cache: $(ctl "$n" volume status v)"
    common=(--ioengine=nbd --uri="$(nbd_uri "$n" v)" --size=64M --bs=4k --iodepth=32
        --verify=crc32c --verify_fatal=1 --randseed=4242 --group_reporting)
    fio --name=w --rw=randwrite "${common[@]}" --do_verify=1 --output="$T/fio-w-$cache.txt" ||
        { cat "$T/fio-w-$cache.txt"; fail "$cache: fio write+verify failed"; }
    fio --name=w --rw=randwrite "${common[@]}" --verify_only=1 --output="$T/fio-v-$cache.txt" ||
        { cat "$T/fio-v-$cache.txt"; fail "$cache: fio verify-only pass failed"; }
    grep -q "err= 0" "$T/fio-v-$cache.txt" || fail "$cache: fio reported errors: $(cat "$T/fio-v-$cache.txt")"
    # mixed block sizes, sequential, QD8
    fio --name=s --rw=write --ioengine=nbd --uri="$(nbd_uri "$n" v)" --offset=64M --size=32M \
        --bsrange=4k-1m --iodepth=8 --verify=crc32c --verify_fatal=1 --do_verify=1 \
        --output="$T/fio-s-$cache.txt" || { cat "$T/fio-s-$cache.txt"; fail "$cache: fio sequential verify failed"; }
    stop_daemon "$n"
done
