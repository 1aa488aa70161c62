import hashlib
import os
import nbd
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()
STORE = "file://%s/store" % T
CLASS = {"target": STORE}


def nbd_handle(node, vol):
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///%s?socket=%s/%s/nbd.sock" % (vol, T, node))
    return h






# primary on n2, so replicas that did not run the ship (n1 lists first) must not hide it
v = ctl.call("Controller", "CreateVolume", name="src", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=32 * MiB),
             parameters={"replicas": "3"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n2")])).volume
p = primary("src")
eq("n2", p, "primary of src")
h = nbd_handle(p, "src")
for i in range(8):
    h.pwrite(bytes([i + 1]) * MiB, i * 3 * MiB)
h.flush()
h.shutdown()
wait_until(10, "src idle", lambda: tandemctl(p, "volume", "status", "src")["clients"] == 0)
want = export_sha(p, "src", 32 * MiB)
wait_until(10, "src idle", lambda: tandemctl(p, "volume", "status", "src")["clients"] == 0)

# cut + ship; poll like the snapshotter does (same call again) until ready
s = ctl.call("Controller", "CreateSnapshot", source_volume_id="src", name="snap-1",
             parameters=CLASS, secrets={"access-key": "unused", "secret-key": "unused"}).snapshot
eq("src@snap-1@" + STORE, s.snapshot_id, "snapshot id")
eq("src", s.source_volume_id, "source volume")
eq(32 * MiB, s.size_bytes, "snapshot size")
check(s.creation_time.seconds > 1700000000, "creation time %s" % s.creation_time)
s = wait_until(120, "the ship to finish", lambda: (lambda r: r if r.ready_to_use else None)(
    ctl.call("Controller", "CreateSnapshot", source_volume_id="src", name="snap-1",
             parameters=CLASS).snapshot))
eq("src@snap-1@" + STORE, s.snapshot_id, "id of the ready snapshot")

# later writes must not show in the restore
h = nbd_handle(p, "src")
h.pwrite(b"\xee" * MiB, 0)
h.flush()
h.shutdown()
want2 = export_sha(p, "src", 32 * MiB)  # what snap-2 will hold

# names are unique across volumes
ctl.call("Controller", "CreateVolume", name="other", volume_capabilities=[cap],
         capacity_range=pb.CapacityRange(required_bytes=MiB))
ctl.expect("ALREADY_EXISTS", "Controller", "CreateSnapshot", source_volume_id="other",
           name="snap-1", parameters=CLASS)
ctl.expect("NOT_FOUND", "Controller", "CreateSnapshot", source_volume_id="nope", name="x")

# ListSnapshots
ls = ctl.call("Controller", "ListSnapshots", snapshot_id=s.snapshot_id).entries
eq([s.snapshot_id], [e.snapshot.snapshot_id for e in ls], "list by id")
check(ls[0].snapshot.ready_to_use, "listed snapshot ready")
eq([], list(ctl.call("Controller", "ListSnapshots", snapshot_id="src@nope").entries),
   "list of an unknown id is empty")
# an unpublished volume has no primary: one is promoted for the cut and demoted again
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="src", node_id=p)
eq(["secondary"] * 3, [role(n, "src") for n in ("n1", "n2", "n3")], "src unpublished")
ctl.call("Controller", "CreateSnapshot", source_volume_id="src", name="snap-2")  # local only
eq(["secondary"] * 3, [role(n, "src") for n in ("n1", "n2", "n3")], "no primary left behind")
by_src = ctl.call("Controller", "ListSnapshots", source_volume_id="src").entries
eq(["src@snap-1@" + STORE, "src@snap-2"], sorted(e.snapshot.snapshot_id for e in by_src),
   "list by source")
page = ctl.call("Controller", "ListSnapshots", max_entries=1)
eq(1, len(page.entries), "page size")
rest = ctl.call("Controller", "ListSnapshots", starting_token=page.next_token)
eq(2, len(page.entries) + len(rest.entries), "two pages cover both")

# restore into a new volume, three replicas, bytes equal to the snapshot
r = ctl.call("Controller", "CreateVolume", name="restored", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=32 * MiB),
             parameters={"replicas": "3"},
             volume_content_source=pb.VolumeContentSource(
                 snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=s.snapshot_id))).volume
eq(s.snapshot_id, r.content_source.snapshot.snapshot_id, "content source echoed")
eq(32 * MiB, r.capacity_bytes, "restored size")
eq(want, export_sha(primary("restored"), "restored", 32 * MiB), "restored bytes = snapshot bytes")
# a local-only snapshot is copied from a replica of its volume (src is unpublished: no
# primary, a secondary holds it), no size asked for: the snapshot's
r2 = ctl.call("Controller", "CreateVolume", name="r2", volume_capabilities=[cap],
              volume_content_source=pb.VolumeContentSource(
                  snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id="src@snap-2"))).volume
check(r2.capacity_bytes >= 32 * MiB, "r2 size %d" % r2.capacity_bytes)
holder = [n for n in ("n1", "n2", "n3") if "r2" in volume_names(n)]
eq(1, len(holder), "r2 has one replica")
eq(want2, export_sha(holder[0], "r2", 32 * MiB), "r2 = src@snap-2, the local snapshot")
eq(["secondary"] * 3, [role(n, "src") for n in ("n1", "n2", "n3")], "src still unpublished")
ctl.expect("NOT_FOUND", "Controller", "CreateVolume", name="r3", volume_capabilities=[cap],
           volume_content_source=pb.VolumeContentSource(
               snapshot=pb.VolumeContentSource.SnapshotSource(
                   snapshot_id="src@missing@" + STORE)))

# delete
for sid in (s.snapshot_id, "src@snap-2"):
    ctl.call("Controller", "DeleteSnapshot", snapshot_id=sid)
    ctl.call("Controller", "DeleteSnapshot", snapshot_id=sid)
eq([], list(ctl.call("Controller", "ListSnapshots", source_volume_id="src").entries),
   "no snapshots left")
ctl.call("Controller", "DeleteSnapshot", snapshot_id="garbage-id")
print("snapshot/restore ok")
