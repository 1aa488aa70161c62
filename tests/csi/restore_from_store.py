import hashlib
import os
import subprocess
import nbd
from csi_client import *

ctl, n2 = Plugin("controller"), Plugin("node_n2")
MiB = 1 << 20
cap = mount_cap()
STORE = "file://%s/store" % T
SID = "jenkins-home@snap-1@" + STORE
want = open(T + "/image.sha").read().strip()


def from_snap(name, sid=SID, **kw):
    return dict(name=name, volume_capabilities=[cap], parameters={"replicas": "3"},
                volume_content_source=pb.VolumeContentSource(
                    snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=sid)), **kw)






def idle(node, vol):
    wait_until(10, vol + " idle on " + node,
               lambda: tandemctl(node, "volume", "status", vol)["clients"] == 0)


# asked for 16 MiB: gets the snapshot's 48 MiB, primary in the preferred zone
v = ctl.call("Controller", "CreateVolume", **from_snap(
    "pvc-dr", capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
    accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n2")]))).volume
eq(48 * MiB, v.capacity_bytes, "restored volume holds the snapshot")
eq(SID, v.content_source.snapshot.snapshot_id, "content source")
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "three zones")
eq("n2", primary("pvc-dr"), "primary in the preferred zone")
eq(want, export_sha("n2", "pvc-dr", 48 * MiB), "restored bytes = the shipped image")
idle("n2", "pvc-dr")
check(not os.path.exists(T + "/ctl-state/restoring-pvc-dr"), "restore marker removed")
check(not any(f.startswith("restore-") for f in os.listdir(T + "/ctl-state")),
      "scratch image removed")
# a retry answers the same volume without restoring again
eq(v, ctl.call("Controller", "CreateVolume", **from_snap(
    "pvc-dr", capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
    accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n2")]))).volume,
   "retried CreateVolume")

# kubelet's part: the restored Jenkins home, file by file
ctx = dict(v.volume_context)
pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="pvc-dr", node_id="n2",
                     volume_capability=cap, volume_context=ctx).publish_context)
st, tg = T + "/kubelet/staging/pvc-dr", T + "/kubelet/pods/jenkins-0/home"
n2.call("Node", "NodeStageVolume", volume_id="pvc-dr", publish_context=pctx,
        staging_target_path=st, volume_capability=cap, volume_context=ctx)
n2.call("Node", "NodePublishVolume", volume_id="pvc-dr", publish_context=pctx,
        staging_target_path=st, target_path=tg, volume_capability=cap, volume_context=ctx)
got = subprocess.run("cd %s && find . -type f ! -path './lost+found/*' | sort | xargs sha256sum"
                     % tg, shell=True, capture_output=True, text=True).stdout
eq(open(T + "/src.sums").read(), got, "restored Jenkins home, file by file")
n2.call("Node", "NodeUnpublishVolume", volume_id="pvc-dr", target_path=tg)
n2.call("Node", "NodeUnstageVolume", volume_id="pvc-dr", staging_target_path=st)
idle("n2", "pvc-dr")

# a restore that died half-way: the volume exists, its marker too -> redone, not returned empty
ctl.call("Controller", "CreateVolume", name="pvc-half", volume_capabilities=[cap],
         capacity_range=pb.CapacityRange(required_bytes=48 * MiB), parameters={"replicas": "3"})
open(T + "/ctl-state/restoring-pvc-half", "w").write(SID + "\n")
ctl.call("Controller", "CreateVolume", **from_snap(
    "pvc-half", capacity_range=pb.CapacityRange(required_bytes=48 * MiB)))
eq(want, export_sha(primary("pvc-half"), "pvc-half", 48 * MiB), "half-restored volume redone")

# a retry while the first call still restores (the provisioner's timeout ran out): ABORTED,
# the spec's "operation pending for volume"; the first call finishes and the next retry wins
import threading
first = {}
t = threading.Thread(target=lambda: first.update(v=ctl.call("Controller", "CreateVolume", **from_snap(
    "pvc-conc", capacity_range=pb.CapacityRange(required_bytes=48 * MiB))).volume))
t.start()
wait_until(60, "the first restore to be under way",
           lambda: os.path.exists(T + "/ctl-state/restoring-pvc-conc"))
d = ctl.expect("ABORTED", "Controller", "CreateVolume", **from_snap(
    "pvc-conc", capacity_range=pb.CapacityRange(required_bytes=48 * MiB)))
check("already in progress" in d, d)
t.join()
eq(first["v"], ctl.call("Controller", "CreateVolume", **from_snap(
    "pvc-conc", capacity_range=pb.CapacityRange(required_bytes=48 * MiB))).volume,
   "the retry after the first call finished")
eq(want, export_sha(primary("pvc-conc"), "pvc-conc", 48 * MiB), "pvc-conc bytes")

# errors
ctl.expect("NOT_FOUND", "Controller", "CreateVolume",
           **from_snap("pvc-x", sid="jenkins-home@no-such-snap@" + STORE))
ctl.expect("OUT_OF_RANGE", "Controller", "CreateVolume",
           **from_snap("pvc-y", capacity_range=pb.CapacityRange(limit_bytes=16 * MiB)))
# a local (unshipped) snapshot id of a volume that is not in this cluster
d = ctl.expect("NOT_FOUND", "Controller", "CreateVolume",
               **from_snap("pvc-z", sid="jenkins-home@snap-1"))
check("on the replicas of jenkins-home" in d, d)
for n in ("n1", "n2", "n3"):
    left = [x for x in volume_names(n) if x in ("pvc-x", "pvc-y", "pvc-z")]
    eq([], left, "refused restores left nothing on " + n)
# the source volume is not in this cluster: deleting the DR snapshot is a no-op, not an error
ctl.call("Controller", "DeleteSnapshot", snapshot_id=SID)
print("restore from store ok")
