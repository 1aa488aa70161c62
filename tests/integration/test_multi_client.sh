#!/usr/bin/env bash
# Several clients at once on one volume and on different volumes: each writes its own region
# concurrently, then every region is verified through yet another connection.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create shared --size 64M >/dev/null
ctl n1 volume create solo --size 16M >/dev/null
pids=()
for i in 0 1 2 3 4 5; do
    qemu-io -f raw "$(nbd_uri n1 shared)" -c "write -P $((0x10 + i)) $((i * 8))M 8M" -c flush \
        >"$T/w$i.out" 2>&1 &
    pids+=($!)
done
fio --name=solo --ioengine=nbd --uri="$(nbd_uri n1 solo)" --rw=randwrite --bs=4k --size=16M \
    --iodepth=16 --verify=crc32c --verify_fatal=1 --do_verify=1 --output="$T/fio.txt" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent client failed (see $T/*.out, fio.txt)"; done
for i in 0 1 2 3 4 5; do
    qemu-io -f raw "$(nbd_uri n1 shared)" -c "read -P $((0x10 + i)) $((i * 8))M 8M" >/dev/null ||
        fail "region $i corrupted by concurrent clients"
done
# a volume with clients attached cannot be deleted
qemu-io -f raw "$(nbd_uri n1 solo)" -c "sleep 3000" -c "read 0 4k" >/dev/null 2>&1 &
holder=$!
holder_attached() { [ "$(ctl n1 volume status solo --json | jq -r .clients)" = 1 ]; }
wait_until 10 "the holder to attach" holder_attached
if out=$(ctl n1 volume delete solo 2>&1); then fail "deleted a volume in use"; fi
assert_contains "$out" "in use by 1 client" "delete-in-use error"
wait "$holder"
ctl n1 volume delete solo >/dev/null
stop_daemon n1
