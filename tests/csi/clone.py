import hashlib
import nbd
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()


def nbd_handle(node, vol):
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///%s?socket=%s/%s/nbd.sock" % (vol, T, node))
    return h


def clone_req(name, source, size=None, preferred=None, **kw):
    f = dict(name=name, volume_capabilities=[cap], parameters={"replicas": "3"},
             volume_content_source=pb.VolumeContentSource(
                 volume=pb.VolumeContentSource.VolumeSource(volume_id=source)))
    if size is not None:
        f["capacity_range"] = pb.CapacityRange(required_bytes=size)
    if preferred:
        f["accessibility_requirements"] = pb.TopologyRequirement(preferred=[zone(preferred)])
    f.update(kw)
    return f


caps = [pb.ControllerServiceCapability.RPC.Type.Name(c.rpc.type)
        for c in ctl.call("Controller", "ControllerGetCapabilities").capabilities]
check("CLONE_VOLUME" in caps, "CLONE_VOLUME advertised: %s" % caps)

ctl.call("Controller", "CreateVolume", name="src", volume_capabilities=[cap],
         capacity_range=pb.CapacityRange(required_bytes=32 * MiB), parameters={"replicas": "3"},
         accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n2")]))
eq("n2", primary("src"), "primary of src")
# a pattern: whole MiBs, an unaligned run across a 64 KiB unit, the last block
h = nbd_handle("n2", "src")
for i in range(0, 32, 3):
    h.pwrite(bytes([i + 1]) * MiB, i * MiB)
h.pwrite(bytes(range(256)) * 40, 5 * MiB + 65536 - 5000)
h.pwrite(b"\x5a" * 4096, 32 * MiB - 4096)
h.flush()
want = export_sha("n2", "src", 32 * MiB)

# the source stays connected (in use) while it is cloned
c = ctl.call("Controller", "CreateVolume", **clone_req("cl", "src", 48 * MiB, "zone-n3")).volume
eq("cl", c.volume_id, "clone id")
eq(48 * MiB, c.capacity_bytes, "clone size (larger than the source)")
eq("src", c.content_source.volume.volume_id, "content source echoed")
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(c), "clone topology")
eq("n3", primary("cl"), "the clone's primary is in the preferred zone")

# writes to the source after the clone must not reach it
h.pwrite(b"\xee" * MiB, 0)
h.pwrite(b"\xdd" * MiB, 31 * MiB)
h.flush()
eq(want, export_sha("n3", "cl", 32 * MiB), "clone = the source at clone time")
check(export_sha("n2", "src", 32 * MiB) != want, "the source did change after the clone")
zero = hashlib.sha256(bytes(16 * MiB)).hexdigest()
hc = nbd_handle("n3", "cl")
eq(zero, hashlib.sha256(hc.pread(16 * MiB, 32 * MiB)).hexdigest(), "clone's tail is zeros")
hc.shutdown()
for n in ("n1", "n2", "n3"):
    eq([], tandemctl(n, "snapshot", "list", "src"), "no temporary snapshot left on " + n)

# retry: the same volume, not copied again (the source has changed since)
c2 = ctl.call("Controller", "CreateVolume", **clone_req("cl", "src", 48 * MiB, "zone-n3")).volume
eq(c.volume_id, c2.volume_id, "retry gives the same clone")
eq(want, export_sha("n3", "cl", 32 * MiB), "retry did not copy again")
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **clone_req("cl", "src", 64 * MiB))

# errors, nothing left behind
d = ctl.expect("NOT_FOUND", "Controller", "CreateVolume", **clone_req("cx", "no-such-volume"))
check("no-such-volume" in d, d)
d = ctl.expect("OUT_OF_RANGE", "Controller", "CreateVolume", **clone_req("cy", "src", 16 * MiB))
check("smaller" in d, d)
ctl.expect("OUT_OF_RANGE", "Controller", "CreateVolume",
           **clone_req("cz", "src", capacity_range=pb.CapacityRange(limit_bytes=8 * MiB)))
ctl.expect("INVALID_ARGUMENT", "Controller", "CreateVolume", **clone_req("cw", ""))
for n in ("n1", "n2", "n3"):
    eq(["cl", "src"], volume_names(n), "volumes on %s after the refusals" % n)

# an unpublished source: no primary, one is promoted for the cut and demoted again; no size
# asked for: the source's
h.shutdown()
wait_until(10, "src idle", lambda: tandemctl("n2", "volume", "status", "src")["clients"] == 0)
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="src", node_id="n2")
eq(["secondary"] * 3, [role(n, "src") for n in ("n1", "n2", "n3")], "src unpublished")
c3 = ctl.call("Controller", "CreateVolume", **clone_req("cl2", "src")).volume
eq(32 * MiB, c3.capacity_bytes, "a clone without a size has the source's")
eq(["secondary"] * 3, [role(n, "src") for n in ("n1", "n2", "n3")], "no primary left behind")
p3 = primary("cl2")
# every replica of src holds the same image; read it through a promoted one
tandemctl("n1", "volume", "promote", "src")
want2 = export_sha("n1", "src", 32 * MiB)
tandemctl("n1", "volume", "demote", "src")
eq(want2, export_sha(p3, "cl2", 32 * MiB), "clone of the unpublished source")
print("clone ok")
