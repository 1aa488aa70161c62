import nbd
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()
v = ctl.call("Controller", "CreateVolume", name="pub", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
             parameters={"replicas": "3"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")])).volume
ctx = dict(v.volume_context)


def roles():
    return [role(n, "pub") for n in ("n1", "n2", "n3")]


eq(["primary", "secondary", "secondary"], roles(), "roles after create")
r = ctl.call("Controller", "ControllerPublishVolume", volume_id="pub", node_id="n2",
             volume_capability=cap, volume_context=ctx)
eq("n2", r.publish_context["tandem.io/primary"], "publish context names the primary")
eq(["secondary", "primary", "secondary"], roles(), "roles after publish to n2")
ctl.call("Controller", "ControllerPublishVolume", volume_id="pub", node_id="n2",
         volume_capability=cap, volume_context=ctx)
eq(["secondary", "primary", "secondary"], roles(), "roles after a repeated publish")
# the same node with another readonly flag or access mode: ALREADY_EXISTS (the spec)
d = ctl.expect("ALREADY_EXISTS", "Controller", "ControllerPublishVolume", volume_id="pub",
               node_id="n2", volume_capability=cap, volume_context=ctx, readonly=True)
check("readonly=0" in d, d)
ctl.expect("ALREADY_EXISTS", "Controller", "ControllerPublishVolume", volume_id="pub",
           node_id="n2", volume_capability=mount_cap(mode="SINGLE_NODE_READER_ONLY"),
           volume_context=ctx)

# a client attached on n2: publishing to n3 is refused and changes nothing
h = nbd.NBD()
h.connect_uri("nbd+unix:///pub?socket=%s/n2/nbd.sock" % T)
h.pwrite(b"\x42" * 4096, 0)
h.flush()
wait_until(10, "n2 to count the client",
           lambda: tandemctl("n2", "volume", "status", "pub")["clients"] == 1)
d = ctl.expect("FAILED_PRECONDITION", "Controller", "ControllerPublishVolume", volume_id="pub",
               node_id="n3", volume_capability=cap, volume_context=ctx)
check("published on node n2" in d, "reason: " + d)
d = ctl.expect("FAILED_PRECONDITION", "Controller", "ControllerUnpublishVolume", volume_id="pub",
               node_id="n2")
check("published on node n2" in d and "NodeUnstageVolume" in d, "reason: " + d)
eq(["secondary", "primary", "secondary"], roles(), "roles after refused calls")
h.shutdown()
del h
wait_until(10, "n2 to drop the client",
           lambda: tandemctl("n2", "volume", "status", "pub")["clients"] == 0)

# move to n3; the bytes written through n2 are there
ctl.call("Controller", "ControllerPublishVolume", volume_id="pub", node_id="n3",
         volume_capability=cap, volume_context=ctx)
eq(["secondary", "secondary", "primary"], roles(), "roles after publish to n3")
h = nbd.NBD()
h.connect_uri("nbd+unix:///pub?socket=%s/n3/nbd.sock" % T)
eq(b"\x42" * 4096, h.pread(4096, 0), "data written on n2, read on n3")
h.shutdown()
del h
wait_until(10, "n3 to drop the client",
           lambda: tandemctl("n3", "volume", "status", "pub")["clients"] == 0)

# unpublish demotes; again is fine; a node or volume that is gone counts as unpublished
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="pub", node_id="n3")
eq(["secondary", "secondary", "secondary"], roles(), "roles after unpublish")
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="pub", node_id="n3")
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="pub", node_id="nobody")
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="gone", node_id="n1")

# refusals
ctl.expect("NOT_FOUND", "Controller", "ControllerPublishVolume", volume_id="gone",
           node_id="n1", volume_capability=cap)
ctl.expect("NOT_FOUND", "Controller", "ControllerPublishVolume", volume_id="pub",
           node_id="nobody", volume_capability=cap)
solo = ctl.call("Controller", "CreateVolume", name="solo", volume_capabilities=[cap],
                capacity_range=pb.CapacityRange(required_bytes=MiB),
                accessibility_requirements=pb.TopologyRequirement(
                    requisite=[zone("zone-n1")])).volume
d = ctl.expect("FAILED_PRECONDITION", "Controller", "ControllerPublishVolume", volume_id="solo",
               node_id="n2", volume_capability=cap, volume_context=dict(solo.volume_context))
check("no replica on node n2" in d and "allowRemoteVolumeAccess" in d, "reason: " + d)
r = ctl.call("Controller", "ControllerPublishVolume", volume_id="solo", node_id="n1",
             volume_capability=cap, volume_context=dict(solo.volume_context))
eq("n1", r.publish_context["tandem.io/primary"], "solo publish")
# remote access allowed: publish to a node without a replica names the primary's export
rem = ctl.call("Controller", "CreateVolume", name="remote", volume_capabilities=[cap],
               capacity_range=pb.CapacityRange(required_bytes=MiB),
               parameters={"allowRemoteVolumeAccess": "true"},
               accessibility_requirements=pb.TopologyRequirement(
                   requisite=[zone("zone-n1")])).volume
eq([], zones_of(rem), "a remotely accessible volume has no topology constraint")
r = ctl.call("Controller", "ControllerPublishVolume", volume_id="remote", node_id="n3",
             volume_capability=cap, volume_context=dict(rem.volume_context))
eq("n1", r.publish_context["tandem.io/primary"], "remote publish names the holder")
eq("%s/n1/nbd.sock" % T, r.publish_context["tandem.io/nbd"], "remote publish names its export")
print("publish ok")
