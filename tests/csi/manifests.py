import glob
import sys
import yaml
from csi_client import *

root = sys.argv[1]
docs = []
for f in sorted(glob.glob(root + "/*.yaml") + glob.glob(root + "/examples/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d:
            docs.append((f, d))
kinds = {}
for f, d in docs:
    kinds.setdefault(d["kind"], []).append(d)


def one(kind, name):
    m = [d for d in kinds.get(kind, []) if d["metadata"]["name"] == name]
    eq(1, len(m), "%s %s defined" % (kind, name))
    return m[0]


drv = one("CSIDriver", "csi.tandem.io")
eq(True, drv["spec"]["attachRequired"], "attach required (publish = primary role)")
for d in kinds["StorageClass"]:
    eq("csi.tandem.io", d["provisioner"], "StorageClass provisioner")
for d in kinds["VolumeSnapshotClass"]:
    eq("csi.tandem.io", d["driver"], "VolumeSnapshotClass driver")

ctl = one("Deployment", "tandem-csi-controller")["spec"]["template"]["spec"]
node = one("DaemonSet", "tandem-node")["spec"]["template"]["spec"]
sas = {d["metadata"]["name"] for d in kinds["ServiceAccount"]}
check(ctl["serviceAccountName"] in sas and node["serviceAccountName"] in sas, "service accounts")
images = {c["name"]: c for c in ctl["containers"]}
for sidecar in ("csi-provisioner", "csi-attacher", "csi-snapshotter", "csi-resizer",
                "liveness-probe", "tandem-csi"):
    check(sidecar in images, "controller container " + sidecar)
check("--feature-gates=Topology=true" in images["csi-provisioner"]["args"], "topology on")
for c in ctl["containers"]:
    args = " ".join(c.get("args", []))
    if "csi-address" in args:
        check("--csi-address=/csi/csi.sock" in args, c["name"] + " socket")
check("--endpoint=unix:///csi/csi.sock" in images["tandem-csi"]["args"], "controller endpoint")
ncs = {c["name"]: c for c in node["containers"]}
for c in ("tandem-csi", "node-driver-registrar", "liveness-probe", "tandemd"):
    check(c in ncs, "node container " + c)
eq(True, ncs["tandem-csi"]["securityContext"]["privileged"], "node plugin privileged")
check(any(m.get("mountPropagation") == "Bidirectional" for m in ncs["tandem-csi"]["volumeMounts"]),
      "kubelet dir mounted Bidirectional")
check("--kubelet-registration-path=/var/lib/kubelet/plugins/csi.tandem.io/csi.sock" in
      ncs["node-driver-registrar"]["args"], "registration path")
hp = {v["name"]: v.get("hostPath", {}).get("path") for v in node["volumes"]}
eq("/var/lib/kubelet/plugins/csi.tandem.io", hp["socket-dir"], "node socket dir")
# referenced ConfigMaps and Secrets exist
cms = {d["metadata"]["name"] for d in kinds["ConfigMap"]}
for v in ctl["volumes"]:
    if "configMap" in v:
        check(v["configMap"]["name"] in cms, "ConfigMap " + v["configMap"]["name"])
secrets = {d["metadata"]["name"] for d in kinds["Secret"]}
for d in kinds["StorageClass"] + kinds["VolumeSnapshotClass"]:
    for k, v in d["parameters"].items():
        if k.endswith("-secret-name"):
            check(v in secrets, "Secret " + v)
# the control path is authenticated: the node plugin serves the control socket with mutual TLS
# (no socat bridge), the controller has its certificate
nargs = ncs["tandem-csi"]["args"]
check(any(a.startswith("--control-listen=") for a in nargs), "node plugin --control-listen")
for flag in ("--tls-cert=", "--tls-key=", "--tls-ca="):
    check(any(a.startswith(flag) for a in nargs), "node plugin " + flag)
    check(any(a.startswith(flag) for a in images["tandem-csi"]["args"]), "controller " + flag)
check(not any("socat" in c.get("image", "") for c in ncs.values()), "no socat bridge")
# the nodes file in the ConfigMap is in the format the controller reads
for line in one("ConfigMap", "tandem-nodes")["data"]["nodes"].splitlines():
    line = line.split("#")[0].split()
    check(not line or (len(line) == 3 and line[1].startswith("tls://")), "nodes line %s" % line)

# the example parameters are accepted by the real controller
c = Plugin("controller")
sc = one("StorageClass", "tandem-r3")
v = c.call("Controller", "CreateVolume", name="pvc-from-example",
           volume_capabilities=[mount_cap()], parameters=sc["parameters"],
           capacity_range=pb.CapacityRange(required_bytes=16 << 20)).volume
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "the example StorageClass spreads over 3 zones")
sc = one("StorageClass", "tandem-r2w")
w = c.call("Controller", "CreateVolume", name="pvc-from-example-w",
           volume_capabilities=[mount_cap()], parameters=sc["parameters"],
           capacity_range=pb.CapacityRange(required_bytes=16 << 20)).volume
eq(2, len(zones_of(w)), "the witness example: two data zones in the topology")
eq(1, sum(tandemctl(n, "volume", "status", "pvc-from-example-w").get("role") == "witness"
          for n in ("n1", "n2", "n3")), "the witness example: one witness")
vsc = one("VolumeSnapshotClass", "tandem-s3")
# the bucket is not reachable here: the same parameters with a file:// target
params = dict(vsc["parameters"], target="file://%s/store" % T)
req = dict(source_volume_id="pvc-from-example", name="snap-from-example", parameters=params)
try:
    c._stub("Controller", "CreateSnapshot")(pb.CreateSnapshotRequest(**req), timeout=60)
except grpc.RpcError as e:
    # accepted parameters; the ship itself needs the bucket (not here)
    check(e.code().name != "INVALID_ARGUMENT", "VolumeSnapshotClass parameters refused: %s" %
          e.details())
print("manifests ok: %d objects" % len(docs))
