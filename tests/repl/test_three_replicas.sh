#!/usr/bin/env bash
# Three replicas (three tandemd processes on loopback ports, one per "zone"): a volume created
# on n1 exists on all three with one UUID; writes through n1's NBD export (fio verify, nbdcopy,
# trims, zeroes) leave byte-identical data files on every replica; secondaries refuse the
# export with a message naming the primary; status shows the replica set.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes r 96M
u1=$(rstatus n1 r | jq -r .uuid)
assert_eq "$u1" "$(rstatus n2 r | jq -r .uuid)" "uuid on n2"
assert_eq "$u1" "$(rstatus n3 r | jq -r .uuid)" "uuid on n3"
assert_eq "primary secondary secondary" "$(rstatus n1 r | jq -r '[.replicas[].role] | join(" ")')" "roles"
assert_eq "zone-n1 zone-n2 zone-n3" "$(rstatus n1 r | jq -r '[.replicas[].zone] | join(" ")')" "zones"
wait_in_sync n1 r

fio --name=w --ioengine=nbd --uri="$(nbd_uri n1 r)" --rw=randwrite --bs=4k --size=48M \
    --iodepth=16 --verify=crc32c --verify_fatal=1 --do_verify=1 --output="$T/fio.txt" ||
    fail "fio on the primary: $(cat "$T/fio.txt")"
rand_file "$T/img" 16
nbdcopy "$T/img" "$(nbd_uri n1 r)" # nbdcopy writes from offset 0: overwrite part of fio's data
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x66 60M 3M" -c "write -z 61M 512k" \
    -c "discard 62M 256k" -c "write -P 0x67 70001 777" -c flush >/dev/null
wait_in_sync n1 r
assert_replicas_identical r n1 n2 n3
qemu-io -f raw "$(nbd_uri n1 r)" -c "read -P 0 61M 512k" -c "read -P 0x66 60M 1M" >/dev/null ||
    fail "zeroes/pattern on the primary"

# the secondaries refuse the export and name the primary
out=$(nbdinfo "$(nbd_uri n2 r)" 2>&1) && fail "secondary served the export"
assert_contains "$(nbd_go_error n3 r)" "secondary replica here; its primary is n1 (127.0.0.1:$P1)" "refusal message"
for n in n1 n2 n3; do stop_daemon $n; done
