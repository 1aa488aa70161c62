import hashlib
import os
from csi_client import *

ctl, n1 = Plugin("controller"), Plugin("node_n1")
MiB = 1 << 20
cap = mount_cap("ext4")
st, tg = T + "/kubelet/staging/ev", T + "/kubelet/pods/p/volumes/ev"
v = ctl.call("Controller", "CreateVolume", name="ev", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=64 * MiB),
             parameters={"replicas": "3"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")])).volume
ctx = dict(v.volume_context)


def publish_stage(expand_to=0):
    """kubelet's order: stage, grow the filesystem if a resize is pending, then publish"""
    pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="ev", node_id="n1",
                         volume_capability=cap, volume_context=ctx).publish_context)
    n1.call("Node", "NodeStageVolume", volume_id="ev", publish_context=pctx,
            staging_target_path=st, volume_capability=cap, volume_context=ctx)
    r = None
    if expand_to:
        r = n1.call("Node", "NodeExpandVolume", volume_id="ev", volume_path=st,
                    staging_target_path=st, volume_capability=cap,
                    capacity_range=pb.CapacityRange(required_bytes=expand_to))
    n1.call("Node", "NodePublishVolume", volume_id="ev", publish_context=pctx,
            staging_target_path=st, target_path=tg, volume_capability=cap, volume_context=ctx)
    return r


def unstage_unpublish():
    n1.call("Node", "NodeUnpublishVolume", volume_id="ev", target_path=tg)
    n1.call("Node", "NodeUnstageVolume", volume_id="ev", staging_target_path=st)
    wait_until(10, "ev idle", lambda: tandemctl("n1", "volume", "status", "ev")["clients"] == 0)
    ctl.call("Controller", "ControllerUnpublishVolume", volume_id="ev", node_id="n1")


def fs_bytes():
    s = os.statvfs(tg)
    return s.f_blocks * s.f_frsize


publish_stage()
data = os.urandom(20 * MiB)
with open(tg + "/keep", "wb") as f:
    f.write(data)
    os.fsync(f.fileno())
small = fs_bytes()
check(small < 64 * MiB, "filesystem before: %d" % small)
unstage_unpublish()
eq(["secondary"] * 3, [role(n, "ev") for n in ("n1", "n2", "n3")], "unpublished: no primary")

r = ctl.call("Controller", "ControllerExpandVolume", volume_id="ev", volume_capability=cap,
             capacity_range=pb.CapacityRange(required_bytes=160 * MiB))
eq(160 * MiB, r.capacity_bytes, "expanded capacity")
eq(True, r.node_expansion_required, "node expansion required for a filesystem")
wait_until(30, "every replica at 160 MiB", lambda: all(
    tandemctl(n, "volume", "status", "ev")["size"] == 160 * MiB for n in ("n1", "n2", "n3")))
eq(["secondary"] * 3, [role(n, "ev") for n in ("n1", "n2", "n3")], "demoted again after the expand")
eq(160 * MiB, ctl.call("Controller", "ControllerExpandVolume", volume_id="ev",
                       capacity_range=pb.CapacityRange(required_bytes=160 * MiB)).capacity_bytes,
   "retry")
eq(160 * MiB, ctl.call("Controller", "ControllerExpandVolume", volume_id="ev",
                       capacity_range=pb.CapacityRange(required_bytes=100 * MiB)).capacity_bytes,
   "a smaller size answers the size")

r = publish_stage(160 * MiB)
eq(160 * MiB, r.capacity_bytes, "node capacity")
check(fs_bytes() > 140 * MiB, "filesystem after NodeExpandVolume: %d" % fs_bytes())
eq(hashlib.sha256(data).hexdigest(), hashlib.sha256(open(tg + "/keep", "rb").read()).hexdigest(),
   "file kept across the expansion")

# growing while attached on the nbdfuse+loop path (this host): the daemon grows, the attached
# device cannot (nbdfuse keeps its size), and NodeExpandVolume says so instead of pretending
# (the kernel NBD path grows online: test_kernel_nbd_qemu)
r = ctl.call("Controller", "ControllerExpandVolume", volume_id="ev", volume_capability=cap,
             capacity_range=pb.CapacityRange(required_bytes=192 * MiB))
eq(192 * MiB, r.capacity_bytes, "expanded while published")
d = n1.expect("FAILED_PRECONDITION", "Node", "NodeExpandVolume", volume_id="ev", volume_path=tg,
              staging_target_path=st, capacity_range=pb.CapacityRange(required_bytes=192 * MiB))
check("stage it again" in d and "cannot grow online" in d, d)
unstage_unpublish()
eq(192 * MiB, publish_stage(192 * MiB).capacity_bytes, "after restaging")
check(fs_bytes() > 170 * MiB, "filesystem after the second grow: %d" % fs_bytes())
eq(hashlib.sha256(data).hexdigest(), hashlib.sha256(open(tg + "/keep", "rb").read()).hexdigest(),
   "file kept across both expansions")
unstage_unpublish()
print("expand ok")
