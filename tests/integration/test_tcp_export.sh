#!/usr/bin/env bash
# The NBD server on TCP (--nbd HOST:PORT): nbdinfo, qemu-io and nbdcopy over 127.0.0.1, the same
# bytes visible over the Unix-socket default of another daemon start on the same data.
. "$(dirname "$0")/../lib/common.sh"
PORT=$(/usr/bin/python3 "$TANDEM_ROOT/tests/s3/lib/freeport.py" 1) # bound and released by the kernel: not taken by a neighbour
start_daemon n1 --nbd 127.0.0.1:$PORT
ctl n1 volume create v --size 32M >/dev/null
assert_eq 127.0.0.1:$PORT "$(ctl n1 node status --json | jq -r .nbd)" "advertised address"
assert_eq 33554432 "$(nbdinfo --size "nbd://127.0.0.1:$PORT/v")" "size over TCP"
rand_file "$T/a.img" 32
nbdcopy "$T/a.img" "nbd://127.0.0.1:$PORT/v"
qemu-io -f raw "nbd://127.0.0.1:$PORT/v" -c "write -P 0x61 0 4k" >/dev/null
dd if=/dev/zero bs=4k count=1 status=none | tr '\0' 'a' | dd of="$T/a.img" conv=notrunc status=none
stop_daemon n1
start_daemon n1
nbdcopy "$(nbd_uri n1 v)" "$T/b.img"
cmp "$T/a.img" "$T/b.img" || fail "TCP writes not what the Unix export reads"
stop_daemon n1
