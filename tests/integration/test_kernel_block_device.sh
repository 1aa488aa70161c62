#!/usr/bin/env bash
# A real kernel block device with a real filesystem on a Tandem volume: this kernel has no nbd
# driver, so the export is turned into a file by nbdfuse and into /dev/loopN by losetup. mkfs,
# mount, write files with fsync, unmount, fsck, remount, verify checksums.
. "$(dirname "$0")/../lib/common.sh"
[ -e /dev/fuse ] || { echo "no /dev/fuse on this machine"; exit 77; }
losetup -f >/dev/null 2>&1 || { echo "no free loop device"; exit 77; }
start_daemon n1
ctl n1 volume create fsvol --size 256M >/dev/null
mkdir -p "$T/fuse" "$T/mnt"
nbdfuse "$T/fuse/disk" "$(nbd_uri n1 fsvol)" &
_PIDS+=($!)
on_exit "fusermount3 -u $T/fuse"
wait_until 20 "nbdfuse export" test -e "$T/fuse/disk"
LOOP=$(losetup -f --show --direct-io=on "$T/fuse/disk")
on_exit "losetup -d $LOOP"
mkfs.ext4 -q -F "$LOOP"
mount "$LOOP" "$T/mnt"
on_exit "umount $T/mnt"
for i in 1 2 3 4; do
    head -c $((8 * 1048576 + i * 777)) /dev/urandom >"$T/mnt/file$i"
done
sync -f "$T/mnt"
(cd "$T/mnt" && sha256sum file*) >"$T/sums"
umount "$T/mnt"
fsck.ext4 -fn "$LOOP" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "fsck found errors"; }
mount "$LOOP" "$T/mnt"
(cd "$T/mnt" && sha256sum -c "$T/sums") >/dev/null || fail "file contents differ after remount"
umount "$T/mnt"
losetup -d "$LOOP"
fusermount3 -u "$T/fuse"
_CLEANUP=()
stop_daemon n1
