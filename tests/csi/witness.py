import nbd
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()
NODES = ("n1", "n2", "n3")


def status(node, vol):
    return tandemctl(node, "volume", "status", vol)


def members(vol):
    """node -> (role, disk) as each daemon holding VOL says of itself"""
    return {n: (status(n, vol)["role"], status(n, vol)["disk"])
            for n in NODES if vol in volume_names(n)}


# data replicas limited to zone-n1 and zone-n2 by the requisite topology (the scheduler's
# zones); the witness goes to the third zone all the same: it serves no consumer
v = ctl.call("Controller", "CreateVolume", name="wit", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
             parameters={"replicas": "2", "witness": "true"},
             accessibility_requirements=pb.TopologyRequirement(
                 requisite=[zone("zone-n1"), zone("zone-n2")],
                 preferred=[zone("zone-n1")])).volume
ctx = dict(v.volume_context)
eq(["zone-n1", "zone-n2"], zones_of(v), "accessible topology: the data zones only")
eq("n1,n2", ctx["tandem.io/replicas"], "volume context lists the data replicas")
eq({"n1": ("primary", "UpToDate"), "n2": ("secondary", "UpToDate"),
    "n3": ("witness", "Diskless")}, members("wit"), "two data replicas and the witness")
s = status("n1", "wit")
eq({"n1": "zone-n1", "n2": "zone-n2", "n3": "zone-n3"},
   {r["node"]: r["zone"] for r in s["replicas"]}, "members' zones")
eq(["n3"], [r["node"] for r in s["replicas"] if r.get("witness")], "n3 is the witness")
check(s["quorum"], "quorum with three voters")

# a retry answers the same volume; another witness setting is ALREADY_EXISTS
v2 = ctl.call("Controller", "CreateVolume", name="wit", volume_capabilities=[cap],
              capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
              parameters={"replicas": "2", "witness": "true"}).volume
eq(["zone-n1", "zone-n2"], zones_of(v2), "retry: same topology")
d = ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", name="wit",
               volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
               parameters={"replicas": "2"})
check("2 replicas and a witness, not 2" in d, "reason: " + d)

# publish on the witness's node: refused, changes nothing
d = ctl.expect("FAILED_PRECONDITION", "Controller", "ControllerPublishVolume", volume_id="wit",
               node_id="n3", volume_capability=cap, volume_context=ctx)
check("no data replica on node n3" in d and "witness" in d, "reason: " + d)
eq("witness", status("n3", "wit")["role"], "witness unchanged by the refused publish")

# publish on a data node, bytes through its export
data = bytes(range(256)) * 64  # 16 KiB
r = ctl.call("Controller", "ControllerPublishVolume", volume_id="wit", node_id="n1",
             volume_capability=cap, volume_context=ctx)
eq("n1", r.publish_context["tandem.io/primary"], "publish on n1")
h = nbd.NBD()
h.connect_uri("nbd+unix:///wit?socket=%s/n1/nbd.sock" % T)
h.pwrite(data, 1 * MiB)
h.flush()
eq(data, h.pread(len(data), 1 * MiB), "bytes read back through n1's export")
h.shutdown()
del h
wait_until(10, "n1 to drop the client", lambda: status("n1", "wit")["clients"] == 0)
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="wit", node_id="n1")

# move to the other data node: the promote asks the witness's vote too
r = ctl.call("Controller", "ControllerPublishVolume", volume_id="wit", node_id="n2",
             volume_capability=cap, volume_context=ctx)
eq("n2", r.publish_context["tandem.io/primary"], "publish on n2")
eq({"n1": ("secondary", "UpToDate"), "n2": ("primary", "UpToDate"),
    "n3": ("witness", "Diskless")}, members("wit"), "roles after the move")
h = nbd.NBD()
h.connect_uri("nbd+unix:///wit?socket=%s/n2/nbd.sock" % T)
eq(data, h.pread(len(data), 1 * MiB), "bytes written on n1 read on n2")
h.shutdown()
del h
wait_until(10, "n2 to drop the client", lambda: status("n2", "wit")["clients"] == 0)
eq(0, status("n3", "wit").get("data_frames_received", 0), "the witness got no data frames")
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="wit", node_id="n2")

# DeleteVolume removes every member, the witness included
ctl.call("Controller", "DeleteVolume", volume_id="wit")
for n in NODES:
    check("wit" not in volume_names(n), "wit deleted on " + n)

# no third zone for the witness: clear error, nothing left behind
d = ctl.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="wit2",
               volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
               parameters={"replicas": "2", "witness": "true", "zones": "zone-n1,zone-n2"})
check("witness=true needs a node in a zone without a data replica" in d, "reason: " + d)
check("1 outside the zones parameter" in d and "2 in the data replicas' zones" in d,
      "reason counts the nodes: " + d)
for n in NODES:
    check("wit2" not in volume_names(n), "the failed create left nothing on " + n)
d = ctl.expect("INVALID_ARGUMENT", "Controller", "CreateVolume", name="wit3",
               volume_capabilities=[cap], parameters={"replicas": "3", "witness": "true"})
check("replicas=2 or 4" in d, "reason: " + d)
print("witness ok")
