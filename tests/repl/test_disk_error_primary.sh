#!/usr/bin/env bash
# A backing-disk failure on the primary is served from a peer: n1 keeps its volumes on an ext4
# filesystem on a loop device, which the test shuts down (FS_IOC_SHUTDOWN through xfs_io): from
# then on every read and write of n1's data file fails with EIO from the kernel. The client
# sees no error: the first failing read detaches n1's disk (status: Diskless, on n1 and as its
# peers see it) and is retried on an UpToDate peer; every later read goes to a peer, and writes
# go to the peers only. The bytes read back are the ones written, before and after the failure.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
[ "$(id -u)" = 0 ] || { echo "needs root for losetup and mount"; exit 77; }
command -v xfs_io >/dev/null || { echo "xfs_io (xfsprogs) not installed"; exit 77; }
truncate -s 256M "$T/n1-disk.img"
loopdev=$(losetup -f --show "$T/n1-disk.img") || { echo "no loop device"; exit 77; }
on_exit "losetup -d $loopdev"
mkfs.ext4 -q "$loopdev"
mkdir -p "$T/n1/volumes"
mount "$loopdev" "$T/n1/volumes" || { echo "cannot mount ext4 on $loopdev"; exit 77; }
on_exit "umount -l $T/n1/volumes"
rmdir "$T/n1/volumes/lost+found"
log "n1's volumes on ext4 on $loopdev (errors injected with FS_IOC_SHUTDOWN)"

repl_ports
start_node n1 $P1
start_node n2 $P2
start_node n3 $P3
ctl n1 volume create r --size 64M --replica n1@127.0.0.1:$P1 --replica n2@127.0.0.1:$P2 \
    --replica n3@127.0.0.1:$P3 >/dev/null
rand_file "$T/img" 16
nbdcopy "$T/img" "$(nbd_uri n1 r)"
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x61 40M 2M" -c flush >/dev/null
wait_in_sync n1 r

xfs_io -x -c shutdown "$T/n1/volumes"
if dd if="$T/n1/volumes/r/data" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; then
    fail "the filesystem still reads after shutdown"
fi
# the client reads through n1 as before and gets the right bytes
nbdcopy "$(nbd_uri n1 r)" "$T/back.img"
cmp -n $((16 << 20)) "$T/img" "$T/back.img" || fail "bytes read through n1 after its disk failed"
qemu-io -f raw "$(nbd_uri n1 r)" -c "read -P 0x61 40M 2M" >/dev/null || fail "pattern via n1"
assert_eq Diskless "$(rstatus n1 r | jq -r .disk)" "n1's disk state"
grep -q "backing disk failed (read at [0-9]*: Input/output error): detaching it; disk is Diskless; reads are served by n" "$T/n1.log" ||
    fail "no detach log line on n1"
_n2_sees() { rstatus n2 r | jq -e '.replicas[] | select(.node == "n1") | .disk == "Diskless"' >/dev/null; }
wait_until 10 "n2 to see n1 as Diskless" _n2_sees
# writes still work (on the peers), and read back through n1
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x62 50M 1M" -c "write -P 0x63 10000 5000" \
    -c flush >/dev/null || fail "write on a diskless primary"
qemu-io -f raw "$(nbd_uri n1 r)" -c "read -P 0x62 50M 1M" -c "read -P 0x63 10000 5000" >/dev/null ||
    fail "reading back the writes made after the failure"
assert_replicas_identical r n2 n3
cmp -i $((50 << 20)):0 -n $((1 << 20)) "$T/n2/volumes/r/data" <(head -c 1M /dev/zero | tr '\0' '\142') ||
    fail "n2 does not hold the write made after the failure"
# the disk's EIO is counted by n1's volume layer, but no NBD reply carried an error
if grep "nbd: client .* failed" "$T/n1.log"; then fail "a client got an error from n1"; fi
stop_daemon n1
for n in n2 n3; do stop_daemon $n; done
