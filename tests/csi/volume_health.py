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
    provision_and_attach(ctl, n1, "n1", "hv", 64 * MiB, cap, st, tg)
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
