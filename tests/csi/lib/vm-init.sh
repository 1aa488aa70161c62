#!/bin/sh
# PID 1 of the test VM (tests/csi/test_kernel_nbd_qemu): loads the kernel's own nbd driver,
# brings up QEMU's user network (the host is 10.0.2.2), runs the tandem-csi node plugin on
# tcp://0.0.0.0:7000 (forwarded to the host), and plays the workload: once kubelet's part
# (the host test) has staged and published the volume at target=, write known files, sync,
# and print their SHA-256 on the console for the host to compare; after the online grow, use
# the new space.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run /var/lib/tandem-csi
for m in $(cat /modules.order); do insmod "/lib/modules/$m" || echo "VM-INSMOD-FAILED $m"; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
TARGET=$(sed -n 's/.* target=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "VM-BOOTED $(uname -r) nbd devices: $(ls /dev | grep -c '^nbd')"
tandem-csi --mode node --endpoint tcp://0.0.0.0:7000 --node-id n1 --zone zone-n1 \
    --tandem-control tcp://10.0.2.2:1 --attach nbd --state-dir /var/lib/tandem-csi &
i=0
while ! grep -q " $TARGET " /proc/mounts; do
    sleep 0.2
    i=$((i + 1))
    [ $i -lt 3000 ] || { echo VM-TIMEOUT-PUBLISH; poweroff -f; }
done
seq 1 200000 >"$TARGET/numbers.txt"
cp /bin/busybox "$TARGET/busybox.bin"
sync
echo "VM-WROTE $(sha256sum "$TARGET/numbers.txt" | cut -d' ' -f1) $(sha256sum "$TARGET/busybox.bin" | cut -d' ' -f1)"
# online expansion: once the host has grown the volume and the plugin the mounted ext4 (to
# 128 MiB), allocate more than the old 64 MiB filesystem could hold and write one more file
i=0
while [ "$(df -k "$TARGET" | awk 'NR == 2 {print $2}')" -lt 100000 ]; do
    sleep 0.2
    i=$((i + 1))
    [ $i -lt 3000 ] || { echo VM-TIMEOUT-GROW; poweroff -f; }
done
fallocate -l 72M "$TARGET/big" || echo "VM-FALLOCATE-FAILED"
seq 1 50000 >"$TARGET/after.txt"
sync
echo "VM-GREW $(sha256sum "$TARGET/after.txt" | cut -d' ' -f1) $(df -k "$TARGET" | awk 'NR == 2 {print $2}')"
while grep -q "^/dev/nbd" /proc/mounts || [ -e /sys/block/nbd0/pid ]; do sleep 0.2; done
echo VM-DETACHED
sleep 3600
