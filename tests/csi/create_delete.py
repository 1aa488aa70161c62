from csi_client import *

ctl = Plugin("controller")
MiB, GiB = 1 << 20, 1 << 30
caps = [mount_cap()]

# single replica, default size 1 GiB
v = ctl.call("Controller", "CreateVolume", name="pvc-one", volume_capabilities=caps).volume
eq("pvc-one", v.volume_id, "volume id")
eq(GiB, v.capacity_bytes, "default capacity")
eq({"fsType": "ext4", "tandem.io/replicas": v.volume_context["tandem.io/replicas"]},
   dict(v.volume_context), "volume context")
holders = [n for n in ("n1", "n2", "n3") if "pvc-one" in volume_names(n)]
eq(1, len(holders), "daemons holding pvc-one")
eq(holders[0], v.volume_context["tandem.io/replicas"], "replicas in the context")
eq(["zone-" + holders[0]], zones_of(v), "accessible topology")

# idempotent: same answer, still one volume
v2 = ctl.call("Controller", "CreateVolume", name="pvc-one", volume_capabilities=caps).volume
eq(v, v2, "second CreateVolume answer")
eq(1, sum("pvc-one" in volume_names(n) for n in ("n1", "n2", "n3")), "copies after retry")

# same name, incompatible: ALREADY_EXISTS
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", name="pvc-one",
           volume_capabilities=caps, capacity_range=pb.CapacityRange(required_bytes=2 * GiB))
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", name="pvc-one",
           volume_capabilities=caps, capacity_range=pb.CapacityRange(limit_bytes=512 * MiB))
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", name="pvc-one",
           volume_capabilities=caps, parameters={"replicas": "3"})
# compatible range: the existing volume is the answer
v3 = ctl.call("Controller", "CreateVolume", name="pvc-one", volume_capabilities=caps,
              capacity_range=pb.CapacityRange(required_bytes=GiB - 1, limit_bytes=GiB)).volume
eq(GiB, v3.capacity_bytes, "capacity for a compatible range")

# rounding: up to 1 MiB, or to 4 KiB where the limit forbids more
v = ctl.call("Controller", "CreateVolume", name="pvc-small", volume_capabilities=caps,
             capacity_range=pb.CapacityRange(required_bytes=1)).volume
eq(MiB, v.capacity_bytes, "1 byte rounds up to 1 MiB")
v = ctl.call("Controller", "CreateVolume", name="pvc-tight", volume_capabilities=caps,
             capacity_range=pb.CapacityRange(required_bytes=5000, limit_bytes=12288)).volume
eq(8192, v.capacity_bytes, "5000 bytes with a 12 KiB limit")
ctl.expect("OUT_OF_RANGE", "Controller", "CreateVolume", name="pvc-none",
           volume_capabilities=caps, capacity_range=pb.CapacityRange(required_bytes=5000,
                                                                      limit_bytes=6000))

# a CSI name Tandem cannot use maps to a stable hashed name
odd = "my volume/with:odd*chars"
v = ctl.call("Controller", "CreateVolume", name=odd, volume_capabilities=caps,
             capacity_range=pb.CapacityRange(required_bytes=MiB)).volume
check(v.volume_id.startswith("csi-") and len(v.volume_id) == 44, "hashed id " + v.volume_id)
eq(v.volume_id, ctl.call("Controller", "CreateVolume", name=odd, volume_capabilities=caps,
                         capacity_range=pb.CapacityRange(required_bytes=MiB)).volume.volume_id,
   "hashed id is stable")

# three replicas: on every daemon, one UUID, roles primary + 2 secondaries
v = ctl.call("Controller", "CreateVolume", name="pvc-three", volume_capabilities=caps,
             capacity_range=pb.CapacityRange(required_bytes=64 * MiB),
             parameters={"replicas": "3"}).volume
eq(64 * MiB, v.capacity_bytes, "three-replica capacity")
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "three zones")
uuids = {tandemctl(n, "volume", "status", "pvc-three")["uuid"] for n in ("n1", "n2", "n3")}
eq(1, len(uuids), "one UUID across replicas")
eq(["primary", "secondary", "secondary"],
   sorted(role(n, "pvc-three") for n in ("n1", "n2", "n3")), "roles")

# ListVolumes sees each once
names = [e.volume.volume_id for e in ctl.call("Controller", "ListVolumes").entries]
eq(sorted(["pvc-one", "pvc-small", "pvc-tight", "pvc-three", v.volume_id if False else
           [x for x in names if x.startswith("csi-")][0]]), sorted(names), "ListVolumes")

# delete: every replica goes; again is fine
for name in ("pvc-three", "pvc-one"):
    ctl.call("Controller", "DeleteVolume", volume_id=name)
    for n in ("n1", "n2", "n3"):
        check(name not in volume_names(n), "%s still on %s after DeleteVolume" % (name, n))
    ctl.call("Controller", "DeleteVolume", volume_id=name)
ctl.call("Controller", "DeleteVolume", volume_id="never-existed")
print("create/delete ok")
