import hashlib
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()
NODES = ("n1", "n2", "n3")


def listed(**kw):
    return sorted(e.snapshot.snapshot_id
                  for e in ctl.call("Controller", "ListSnapshots", **kw).entries)


def daemon_snaps(node):
    return sorted(s["name"] for s in tandemctl(node, "snapshot", "list", "src"))


ctl.call("Controller", "CreateVolume", name="src", volume_capabilities=[cap],
         capacity_range=pb.CapacityRange(required_bytes=4 * MiB), parameters={"replicas": "3"},
         accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n2")]))
eq("n2", primary("src"), "primary of src")
u = ctl.call("Controller", "CreateSnapshot", source_volume_id="src", name="user-1").snapshot
eq("src@user-1", u.snapshot_id, "user snapshot id")

# what a clone into "pending" holds while it copies: its temporary snapshot on the source
made = tandemctl("n2", "snapshot", "create", "src", "clone-pending")
check("_rc" not in made, "tandemctl snapshot create: %s" % made)
wait_until(10, "the temporary snapshot on every replica",
           lambda: all("clone-pending" in daemon_snaps(n) for n in NODES))
eq(["src@user-1"], listed(), "ListSnapshots")
eq(["src@user-1"], listed(source_volume_id="src"), "ListSnapshots by source")
eq([], listed(snapshot_id="src@clone-pending"), "ListSnapshots by the temporary's id")
page = ctl.call("Controller", "ListSnapshots", max_entries=1)
eq((["src@user-1"], ""), ([e.snapshot.snapshot_id for e in page.entries], page.next_token),
   "one page, no token past the user's snapshot")

# a CO name of the reserved form is hashed: the temporary keeps its name and its image
seq = {s["name"]: s["seq"] for s in tandemctl("n2", "snapshot", "list", "src")}["clone-pending"]
h = ctl.call("Controller", "CreateSnapshot", source_volume_id="src",
             name="clone-pending").snapshot
want = "src@csi-" + hashlib.sha256(b"clone-pending").hexdigest()[:40]
eq(want, h.snapshot_id, "a snapshot named clone-* by the CO")
eq(h.snapshot_id, ctl.call("Controller", "CreateSnapshot", source_volume_id="src",
                           name="clone-pending").snapshot.snapshot_id, "its retry")
eq(seq, {s["name"]: s["seq"] for s in tandemctl("n2", "snapshot", "list", "src")}["clone-pending"],
   "the temporary snapshot untouched")
eq(sorted(["src@user-1", want]), listed(), "ListSnapshots with the CO's clone-* snapshot")

# clones, short and long names: the list is the same after them
for name in ("cl", "c" * 60):
    v = ctl.call("Controller", "CreateVolume", name=name, volume_capabilities=[cap],
                 volume_content_source=pb.VolumeContentSource(
                     volume=pb.VolumeContentSource.VolumeSource(volume_id="src"))).volume
    eq(name, v.volume_id, "clone id")
    eq(sorted(["src@user-1", want]), listed(), "ListSnapshots after the clone " + name)
eq(sorted(["clone-pending", "user-1", want[4:]]), daemon_snaps("n2"),
   "snapshots on the source's primary after the clones")
print("snapshot list hides clone ok")
