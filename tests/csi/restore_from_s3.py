import hashlib
import sys
import nbd
from csi_client import *

url, endpoint, region, ak, sk = sys.argv[1:6]
ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()
SID = "ci-cache@nightly@" + url
params = {"replicas": "3", "snapshotEndpoint": endpoint, "snapshotRegion": region}


def req(name, **kw):
    return dict(name=name, volume_capabilities=[cap], parameters=params,
                capacity_range=pb.CapacityRange(required_bytes=24 * MiB),
                accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")]),
                volume_content_source=pb.VolumeContentSource(
                    snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=SID)), **kw)


# no secret: the controller has no credentials of its own here
d = ctl.expect("FAILED_PRECONDITION", "Controller", "CreateVolume", **req("pvc-nocreds"))
check("NoCredentials" in d, "reason: " + d)
print("without the secret:", d)
for n in ("n1", "n2", "n3"):
    check("pvc-nocreds" not in volume_names(n), "a refused restore left a volume on " + n)

v = ctl.call("Controller", "CreateVolume", _timeout=300,
             **req("pvc-s3", secrets={"access-key": ak, "secret-key": sk})).volume
eq(24 * MiB, v.capacity_bytes, "restored size")
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "zones")
h = nbd.NBD()
h.connect_uri("nbd+unix:///pvc-s3?socket=%s/n1/nbd.sock" % T)
s = hashlib.sha256()
for off in range(0, 24 * MiB, 4 * MiB):
    s.update(h.pread(4 * MiB, off))
h.shutdown()
eq(open(T + "/image.sha").read().strip(), s.hexdigest(), "bytes restored from S3")
print("restore from s3 ok")
