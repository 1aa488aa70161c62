#!/usr/bin/env bash
# nbdcopy a random image into a volume and back out, byte for byte; a sparse image keeps its
# holes (nbdcopy uses block status and zeroing), and data survives a reconnect.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 128M >/dev/null
U=$(nbd_uri n1 v)
rand_file "$T/in.img" 48
truncate -s 128M "$T/in.img"             # 48 MiB of data, then 80 MiB of hole
dd if=/dev/urandom of="$T/in.img" bs=1M count=3 seek=100 conv=notrunc status=none
nbdcopy --requests=16 "$T/in.img" "$U"
nbdcopy "$U" "$T/out.img"
cmp "$T/in.img" "$T/out.img" || fail "image read back differs"
alloc=$(ctl n1 volume status v --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["allocated"])')
[ "$alloc" -le $((60 * 1048576)) ] || fail "holes were filled: $alloc bytes allocated"
# and once more, with several connections (multi-conn is advertised)
nbdcopy --connections=4 "$U" "$T/out2.img"
cmp "$T/in.img" "$T/out2.img" || fail "multi-connection read differs"
stop_daemon n1
