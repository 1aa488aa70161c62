import hashlib
import json
import os
import sys
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()


def paths(node):
    return "%s/kubelet/%s/staging/fv" % (T, node), "%s/kubelet/%s/pods/jenkins-0/home" % (T, node)


if sys.argv[1] == "before":
    st, tg = paths("n1")
    ctx, pctx = provision_and_attach(ctl, Plugin("node_n1"), "n1", "fv", 96 * MiB, cap, st, tg)
    sums = {}
    os.makedirs(tg + "/jobs/build-app/builds/1")
    for i in range(3):
        data = os.urandom(2 * MiB + i * 999)
        path = "jobs/build-app/builds/1/artifact%d" % i
        with open("%s/%s" % (tg, path), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        sums[path] = hashlib.sha256(data).hexdigest()
    json.dump({"sums": sums, "ctx": ctx}, open(T + "/before.json", "w"))
    print("written on n1; zone n1 is lost next")
else:
    saved = json.load(open(T + "/before.json"))
    ctx = saved["ctx"]
    # the attacher detaches from the lost node (it counts as unpublished), then attaches to n2
    ctl.call("Controller", "ControllerUnpublishVolume", volume_id="fv", node_id="n1")
    pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="fv", node_id="n2",
                         volume_capability=cap, volume_context=ctx).publish_context)
    eq("n2", pctx["tandem.io/primary"], "new primary")
    eq("primary", role("n2", "fv"), "n2's role")
    eq("secondary", role("n3", "fv"), "n3's role")
    st, tg = paths("n2")
    stage_and_publish(Plugin("node_n2"), "fv", cap, ctx, pctx, st, tg)
    for path, want in saved["sums"].items():
        got = hashlib.sha256(open("%s/%s" % (tg, path), "rb").read()).hexdigest()
        eq(want, got, path + " after the zone loss")
    with open(tg + "/after-failover", "wb") as f:
        f.write(os.urandom(MiB))
        os.fsync(f.fileno())
    n2 = Plugin("node_n2")
    n2.call("Node", "NodeUnpublishVolume", volume_id="fv", target_path=tg)
    n2.call("Node", "NodeUnstageVolume", volume_id="fv", staging_target_path=st)
    print("failover ok")
