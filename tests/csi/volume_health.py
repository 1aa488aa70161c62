import os
import sys
from csi_client import *

ctl, n1 = Plugin("controller"), Plugin("node_n1")
MiB = 1 << 20
cap = mount_cap()
st, tg = T + "/kubelet/staging/hv", T + "/kubelet/pods/p/volumes/hv"


def condition():
    r = n1.call("Node", "NodeGetVolumeStats", volume_id="hv", volume_path=tg)
    check(r.HasField("volume_condition"), "stats carry a volume condition")
    return r.volume_condition


if sys.argv[1] == "stage":
    v = ctl.call("Controller", "CreateVolume", name="hv", volume_capabilities=[cap],
                 capacity_range=pb.CapacityRange(required_bytes=64 * MiB),
                 parameters={"replicas": "3"},
                 accessibility_requirements=pb.TopologyRequirement(
                     preferred=[zone("zone-n1")])).volume
    ctx = dict(v.volume_context)
    pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="hv", node_id="n1",
                         volume_capability=cap, volume_context=ctx).publish_context)
    n1.call("Node", "NodeStageVolume", volume_id="hv", publish_context=pctx,
            staging_target_path=st, volume_capability=cap, volume_context=ctx)
    n1.call("Node", "NodePublishVolume", volume_id="hv", publish_context=pctx,
            staging_target_path=st, target_path=tg, volume_capability=cap, volume_context=ctx)
    c = wait_until(30, "a normal condition", lambda: (lambda c: c if not c.abnormal else None)(
        condition()))
    eq("3 replicas in sync", c.message, "healthy message")
elif sys.argv[1] == "degraded":
    with open(tg + "/while-n3-down", "wb") as f:
        f.write(os.urandom(4 * MiB))
        os.fsync(f.fileno())
    c = wait_until(30, "an abnormal condition", lambda: (lambda c: c if c.abnormal else None)(
        condition()))
    check("replica n3 (zone-n3) is" in c.message, "message names n3: " + c.message)
    print("degraded:", c.message)
else:
    c = wait_until(60, "a normal condition after resync",
                   lambda: (lambda c: c if not c.abnormal else None)(condition()))
    eq("3 replicas in sync", c.message, "healed message")
    n1.call("Node", "NodeUnpublishVolume", volume_id="hv", target_path=tg)
    n1.call("Node", "NodeUnstageVolume", volume_id="hv", staging_target_path=st)
    print("health ok")
