import hashlib
import os
import subprocess
from csi_client import *

ctl, n1, n2 = Plugin("controller"), Plugin("node_n1"), Plugin("node_n2")
MiB = 1 << 20
cap = mount_cap("ext4")
v = ctl.call("Controller", "CreateVolume", name="fsvol", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=128 * MiB),
             parameters={"replicas": "3"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")])).volume
ctx = dict(v.volume_context)


def publish(node):
    return dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="fsvol",
                         node_id=node, volume_capability=cap, volume_context=ctx).publish_context)


def stage(plugin, node, pctx, staging, target, c=cap):
    plugin.call("Node", "NodeStageVolume", volume_id="fsvol", publish_context=pctx,
                staging_target_path=staging, volume_capability=c, volume_context=ctx)
    plugin.call("Node", "NodePublishVolume", volume_id="fsvol", publish_context=pctx,
                staging_target_path=staging, target_path=target, volume_capability=c,
                volume_context=ctx)


def unstage(plugin, staging, target):
    plugin.call("Node", "NodeUnpublishVolume", volume_id="fsvol", target_path=target)
    plugin.call("Node", "NodeUnstageVolume", volume_id="fsvol", staging_target_path=staging)


def mounted(path):
    return any(l.split()[1] == path for l in open("/proc/self/mounts"))


# --- n1: stage (blank -> mkfs), publish, write ---
pctx = publish("n1")
st1, tg1 = T + "/kubelet/n1/staging/fsvol", T + "/kubelet/n1/pods/p1/volumes/fsvol"
stage(n1, "n1", pctx, st1, tg1)
check(mounted(st1) and mounted(tg1), "staging and target mounted")
fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", tg1], capture_output=True,
                        text=True).stdout.strip()
eq("ext4", fstype, "filesystem at the target")
# retries are idempotent
stage(n1, "n1", pctx, st1, tg1)
n1.expect("ALREADY_EXISTS", "Node", "NodeStageVolume", volume_id="fsvol", publish_context=pctx,
          staging_target_path=T + "/elsewhere", volume_capability=cap)
sums = {}
for i in range(4):
    data = os.urandom(3 * MiB + i * 4099)
    with open("%s/file%d" % (tg1, i), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    sums["file%d" % i] = hashlib.sha256(data).hexdigest()
os.mkdir(tg1 + "/jenkins_home")
with open(tg1 + "/jenkins_home/config.xml", "w") as f:
    f.write("<hudson/>\n")
    os.fsync(f.fileno())

stats = n1.call("Node", "NodeGetVolumeStats", volume_id="fsvol", volume_path=tg1)
b = [u for u in stats.usage if u.unit == pb.VolumeUsage.BYTES][0]
ino = [u for u in stats.usage if u.unit == pb.VolumeUsage.INODES][0]
sv = os.statvfs(tg1)
eq(sv.f_blocks * sv.f_frsize, b.total, "stats total bytes")
check(b.used >= 12 * MiB, "stats used bytes %d cover the 12 MiB written" % b.used)
eq(sv.f_files, ino.total, "stats total inodes")
check(ino.used >= 6, "inodes used")

# a second publish of the same staged volume (another pod on this node), read-only
tg_ro = T + "/kubelet/n1/pods/p2/volumes/fsvol"
n1.call("Node", "NodePublishVolume", volume_id="fsvol", publish_context=pctx,
        staging_target_path=st1, target_path=tg_ro, volume_capability=cap, readonly=True,
        volume_context=ctx)
try:
    open(tg_ro + "/nope", "w")
    fail("wrote through a read-only publish")
except OSError:
    pass
eq(open(tg1 + "/jenkins_home/config.xml").read(), open(tg_ro + "/jenkins_home/config.xml").read(),
   "read-only publish shows the same files")
n1.call("Node", "NodeUnpublishVolume", volume_id="fsvol", target_path=tg_ro)
check(not os.path.exists(tg_ro), "read-only target removed")

unstage(n1, st1, tg1)
check(not mounted(st1) and not mounted(tg1), "unmounted after unstage")
check(not os.path.exists(tg1), "target removed after unpublish")
unstage(n1, st1, tg1)  # idempotent
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="fsvol", node_id="n1")

# --- n2: the same filesystem, found and not reformatted ---
pctx = publish("n2")
eq("primary", role("n2", "fsvol"), "n2 primary after publish")
st2, tg2 = T + "/kubelet/n2/staging/fsvol", T + "/kubelet/n2/pods/p1/volumes/fsvol"
stage(n2, "n2", pctx, st2, tg2)
for name, want in sums.items():
    got = hashlib.sha256(open("%s/%s" % (tg2, name), "rb").read()).hexdigest()
    eq(want, got, name + " read on n2")
eq("<hudson/>\n", open(tg2 + "/jenkins_home/config.xml").read(), "config.xml on n2")
unstage(n2, st2, tg2)
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="fsvol", node_id="n2")
ctl.call("Controller", "ControllerPublishVolume", volume_id="fsvol", node_id="n2",
         volume_capability=cap, volume_context=ctx)  # leave n2 primary for the shell's checks

# --- raw block on n1 with a separate volume ---
bcap = block_cap()
bv = ctl.call("Controller", "CreateVolume", name="blkvol", volume_capabilities=[bcap],
              capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
              accessibility_requirements=pb.TopologyRequirement(requisite=[zone("zone-n1")])).volume
bctx = dict(bv.volume_context)
bp = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="blkvol", node_id="n1",
                   volume_capability=bcap, volume_context=bctx).publish_context)
bst, btg = T + "/kubelet/n1/staging/blkvol", T + "/kubelet/n1/pods/p3/volumeDevices/blkvol"
n1.call("Node", "NodeStageVolume", volume_id="blkvol", publish_context=bp,
        staging_target_path=bst, volume_capability=bcap, volume_context=bctx)
n1.call("Node", "NodePublishVolume", volume_id="blkvol", publish_context=bp,
        staging_target_path=bst, target_path=btg, volume_capability=bcap, volume_context=bctx)
import stat
check(stat.S_ISBLK(os.stat(btg).st_mode), "raw block target is a block device")
stats = n1.call("Node", "NodeGetVolumeStats", volume_id="blkvol", volume_path=btg)
eq(16 * MiB, stats.usage[0].total, "block device size in stats")
pattern = bytes((i * 7 + 3) & 0xFF for i in range(65536))
fd = os.open(btg, os.O_RDWR)
os.pwrite(fd, pattern, 5 * MiB)
os.fsync(fd)
os.close(fd)
n1.call("Node", "NodeUnpublishVolume", volume_id="blkvol", target_path=btg)
n1.call("Node", "NodeUnstageVolume", volume_id="blkvol", staging_target_path=bst)
with open(T + "/n1/volumes/blkvol/data", "rb") as f:
    f.seek(5 * MiB)
    eq(pattern, f.read(65536), "pattern in the replica's data file at 5 MiB")
print("node stage ok")
