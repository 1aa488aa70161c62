import hashlib
import os
import sys
from csi_client import *

ctl, n1 = Plugin("controller"), Plugin("node_n1")
MiB = 1 << 20
cap = mount_cap("xfs")
st, tg = T + "/kubelet/staging/xv", T + "/kubelet/pods/p/volumes/xv"


def mounted(path):
    return any(l.split()[1] == path for l in open("/proc/self/mounts"))


def stage_publish(pctx, ctx):
    n1.call("Node", "NodeStageVolume", volume_id="xv", publish_context=pctx,
            staging_target_path=st, volume_capability=cap, volume_context=ctx)
    n1.call("Node", "NodePublishVolume", volume_id="xv", publish_context=pctx,
            staging_target_path=st, target_path=tg, volume_capability=cap, volume_context=ctx)


v = ctl.call("Controller", "CreateVolume", name="xv", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=320 * MiB),
             parameters={"replicas": "2", "fsType": "xfs"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")])).volume
ctx = dict(v.volume_context)
eq("xfs", ctx["fsType"], "fsType in the volume context")
pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="xv", node_id="n1",
                     volume_capability=cap, volume_context=ctx).publish_context)
if sys.argv[1] == "stage":
    stage_publish(pctx, ctx)
    eq("xfs", [l.split()[2] for l in open("/proc/self/mounts") if l.split()[1] == tg][0],
       "filesystem type")
    data = os.urandom(5 * MiB)
    with open(tg + "/before-crash", "wb") as f:
        f.write(data)
        os.fsync(f.fileno())
    with open(T + "/sum", "w") as f:
        f.write(hashlib.sha256(data).hexdigest())
    print("staged; the plugin dies next")
else:
    check(mounted(st) and mounted(tg), "mounts survived the plugin")
    stage_publish(pctx, ctx)  # answered from the record
    n1.call("Node", "NodeUnpublishVolume", volume_id="xv", target_path=tg)
    n1.call("Node", "NodeUnstageVolume", volume_id="xv", staging_target_path=st)
    check(not mounted(st) and not mounted(tg), "unmounted")
    check(not any("/fuse/xv" in l for l in open("/proc/self/mounts")), "FUSE mount gone")
    wait_until(10, "the volume's NBD client to leave",
               lambda: tandemctl("n1", "volume", "status", "xv")["clients"] == 0)
    stage_publish(pctx, ctx)
    got = hashlib.sha256(open(tg + "/before-crash", "rb").read()).hexdigest()
    eq(open(T + "/sum").read(), got, "file written before the crash")
    n1.call("Node", "NodeUnpublishVolume", volume_id="xv", target_path=tg)
    n1.call("Node", "NodeUnstageVolume", volume_id="xv", staging_target_path=st)
    print("restart ok")
