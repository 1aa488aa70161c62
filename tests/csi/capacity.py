import os
import nbd
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()


def free(node):
    s = os.statvfs("%s/%s" % (T, node))
    return s.f_bavail * s.f_frsize


def capacity(z=None):
    kw = {"accessible_topology": zone(z)} if z else {}
    r = ctl.call("Controller", "GetCapacity", volume_capabilities=[cap], **kw)
    return r.available_capacity, r.maximum_volume_size.value


for n, size in (("n1", 256), ("n2", 384), ("n3", 512)):
    st = os.statvfs("%s/%s" % (T, n))
    eq(size * MiB, st.f_blocks * st.f_frsize, "tmpfs size of " + n)
    eq((free(n), free(n)), capacity("zone-" + n), "GetCapacity for zone-" + n)
    eq(free(n), tandemctl(n, "node", "status")["capacity"]["free_bytes"], "node.status free " + n)
eq((free("n1") + free("n2") + free("n3"), free("n3")), capacity(), "GetCapacity without topology")
eq((0, 0), capacity("zone-elsewhere"), "GetCapacity for an unknown zone")
# capabilities we cannot serve have no capacity
r = ctl.call("Controller", "GetCapacity",
             volume_capabilities=[mount_cap(mode="MULTI_NODE_MULTI_WRITER")])
eq(0, r.available_capacity, "capacity for an unsupported access mode")

# writing 64 MiB into a volume on n3 costs its zone 64 MiB
ctl.call("Controller", "CreateVolume", name="fill", volume_capabilities=[cap],
         capacity_range=pb.CapacityRange(required_bytes=128 * MiB),
         accessibility_requirements=pb.TopologyRequirement(requisite=[zone("zone-n3")]))
before = capacity("zone-n3")[0]
h = nbd.NBD()
h.connect_uri("nbd+unix:///fill?socket=%s/n3/nbd.sock" % T)
buf = os.urandom(MiB)
for i in range(64):
    h.pwrite(buf, i * MiB)
h.flush()
h.shutdown()
after = capacity("zone-n3")[0]
eq(64 * MiB, before - after, "capacity of zone-n3 after writing 64 MiB")

# 300 MiB fits neither n1 (256 MiB) when it is required...
d = ctl.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="big",
               volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=300 * MiB),
               accessibility_requirements=pb.TopologyRequirement(requisite=[zone("zone-n1")]))
check("1 with less than 314572800 bytes free" in d, "reason names the full node: " + d)
# ...and when n1 is only preferred, it goes where it fits (n2 has 384 MiB, n3 has the most)
v = ctl.call("Controller", "CreateVolume", name="big", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=300 * MiB),
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")])).volume
check(zones_of(v) in (["zone-n2"], ["zone-n3"]), "big placed where it fits: %s" % zones_of(v))
check("big" not in volume_names("n1"), "big not on n1")
# three replicas of 300 MiB cannot be placed (n1 is too small): nothing is left behind
ctl.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="big3",
           volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=300 * MiB),
           parameters={"replicas": "3"})
for n in ("n1", "n2", "n3"):
    check("big3" not in volume_names(n), "big3 left on " + n)
v = ctl.call("Controller", "CreateVolume", name="mid3", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=100 * MiB),
             parameters={"replicas": "3"}).volume
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "mid3 zones")
print("capacity ok")
