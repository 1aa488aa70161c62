import os
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()
NODES = ("n1", "n2", "n3")
STATE = os.path.join(T, "ctl-state")


def snap_src(sid):
    return pb.VolumeContentSource(snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=sid))


def vol_src(vid):
    return pb.VolumeContentSource(volume=pb.VolumeContentSource.VolumeSource(volume_id=vid))


def create(name, src=None, **kw):
    f = dict(name=name, volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=4 * MiB))
    if src is not None:
        f["volume_content_source"] = src
    f.update(kw)
    return f


def uuids(vol):
    return {n: tandemctl(n, "volume", "status", vol).get("uuid") for n in NODES
            if vol in volume_names(n)}


def all_volumes():
    return {n: volume_names(n) for n in NODES}


def record(vol):
    with open(os.path.join(STATE, "source-" + vol)) as f:
        return f.read()


ctl.call("Controller", "CreateVolume", **create("base"))
ctl.call("Controller", "CreateVolume", **create("other"))
s1 = ctl.call("Controller", "CreateSnapshot", source_volume_id="base", name="s1").snapshot
s2 = ctl.call("Controller", "CreateSnapshot", source_volume_id="base", name="s2").snapshot
eq(["base@s1", "base@s2"], [s1.snapshot_id, s2.snapshot_id], "local snapshot ids")

# from S1, then S1 again: the same volume, not made again
r = ctl.call("Controller", "CreateVolume", **create("r", snap_src("base@s1"))).volume
eq("base@s1", r.content_source.snapshot.snapshot_id, "content source of r")
eq("snapshot base@s1", record("r"), "the controller's record for r")
before = uuids("r")
eq(1, len(before), "r made once")
r2 = ctl.call("Controller", "CreateVolume", **create("r", snap_src("base@s1"))).volume
eq(r, r2, "the same answer for the same name and source")
eq(before, uuids("r"), "r not made again")

# same name, another source or none: ALREADY_EXISTS naming both, nothing made or changed
vols = all_volumes()
d = ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("r", snap_src("base@s2")))
check("created from snapshot base@s1, not from snapshot base@s2" in d, d)
d = ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("r"))
check("created from snapshot base@s1, not from no content source" in d, d)
d = ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("r", vol_src("base")))
check("not from volume base" in d, d)
# a plain volume with a source; a clone with another source volume or a snapshot
d = ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("other", snap_src("base@s1")))
check("created from no content source, not from snapshot base@s1" in d, d)
eq(vols, all_volumes(), "no volume made by the refusals")
eq(before, uuids("r"), "r untouched by the refusals")
eq("snapshot base@s1", record("r"), "the record unchanged by the refusals")
c = ctl.call("Controller", "CreateVolume", **create("cl", vol_src("base"))).volume
eq("base", c.content_source.volume.volume_id, "content source of the clone")
eq(c, ctl.call("Controller", "CreateVolume", **create("cl", vol_src("base"))).volume,
   "clone retried with the same source")
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("cl", vol_src("other")))
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("cl", snap_src("base@s1")))
# a refused source that does not even exist is still ALREADY_EXISTS, not NOT_FOUND
ctl.expect("ALREADY_EXISTS", "Controller", "CreateVolume", **create("other", vol_src("nope")))

# DeleteVolume forgets the source: the name is free for any request again
ctl.call("Controller", "DeleteVolume", volume_id="r")
check(not os.path.exists(os.path.join(STATE, "source-r")), "record gone with the volume")
n = ctl.call("Controller", "CreateVolume", **create("r")).volume
eq("", n.content_source.WhichOneof("type") or "", "r made again without a source")
eq("none", record("r"), "record of the new r")
check(uuids("r") != before, "a new r")
# no record (a volume made before the records, or a lost state dir): accepted as before
os.unlink(os.path.join(STATE, "source-other"))
o = ctl.call("Controller", "CreateVolume", **create("other", snap_src("base@s2"))).volume
eq("other", o.volume_id, "a volume without a record answers any source")
print("create source conflict ok")
