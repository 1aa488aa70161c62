from csi_client import *

ctl, node = Plugin("controller"), Plugin("node_n1")
cap = mount_cap()
I = "INVALID_ARGUMENT"
C = "Controller"
MiB = 1 << 20


def bad(code, svc, method, want_in_details=None, plugin=None, **f):
    d = (plugin or (node if svc == "Node" else ctl)).expect(code, svc, method, **f)
    if want_in_details:
        check(want_in_details in d, "%s: %r not in %r" % (method, want_in_details, d))


# CreateVolume
bad(I, C, "CreateVolume", "name is required", volume_capabilities=[cap])
bad(I, C, "CreateVolume", "volume_capabilities are required", name="v")
bad(I, C, "CreateVolume", "no access_mode", name="v", volume_capabilities=[
    pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume())])
bad(I, C, "CreateVolume", "neither block nor mount", name="v", volume_capabilities=[
    pb.VolumeCapability(access_mode=pb.VolumeCapability.AccessMode(mode=1))])
bad(I, C, "CreateVolume", "not supported", name="v",
    volume_capabilities=[mount_cap(mode="MULTI_NODE_MULTI_WRITER")])
bad(I, C, "CreateVolume", "filesystem btrfs", name="v", volume_capabilities=[mount_cap("btrfs")])
bad(I, C, "CreateVolume", "must not be negative", name="v", volume_capabilities=[cap],
    capacity_range=pb.CapacityRange(required_bytes=-1))
bad(I, C, "CreateVolume", "more than limit_bytes", name="v", volume_capabilities=[cap],
    capacity_range=pb.CapacityRange(required_bytes=2 * MiB, limit_bytes=MiB))
bad(I, C, "CreateVolume", "unknown parameter autoPlace", name="v", volume_capabilities=[cap],
    parameters={"autoPlace": "3"})
bad(I, C, "CreateVolume", "replicas=0", name="v", volume_capabilities=[cap],
    parameters={"replicas": "0"})
bad(I, C, "CreateVolume", "replicas=x", name="v", volume_capabilities=[cap],
    parameters={"replicas": "x"})
bad(I, C, "CreateVolume", "witness=true needs replicas=2 or 4", name="v",
    volume_capabilities=[cap], parameters={"witness": "true"})
bad(I, C, "CreateVolume", "witness=maybe", name="v", volume_capabilities=[cap],
    parameters={"witness": "maybe", "replicas": "2"})
bad(I, C, "CreateVolume", "onNoQuorum=maybe", name="v", volume_capabilities=[cap],
    parameters={"onNoQuorum": "maybe"})
bad("NOT_FOUND", C, "CreateVolume", "no volume x to clone", name="v",
    volume_capabilities=[cap], volume_content_source=pb.VolumeContentSource(
        volume=pb.VolumeContentSource.VolumeSource(volume_id="x")))
bad(I, C, "CreateVolume", "volume_id is required", name="v", volume_capabilities=[cap],
    volume_content_source=pb.VolumeContentSource(
        volume=pb.VolumeContentSource.VolumeSource(volume_id="")))
bad("RESOURCE_EXHAUSTED", C, "CreateVolume", "bytes free", name="huge",
    volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=1 << 60))
# secrets are accepted (and must not be logged: the shell checks the log)
ctl.call(C, "CreateVolume", name="sec", volume_capabilities=[mount_cap(flags=["s3cr3t-flag"])],
         capacity_range=pb.CapacityRange(required_bytes=MiB),
         secrets={"password": "hunter2", "token": "hunter2hunter2"})
for n in ("n1", "n2", "n3"):
    check("v" not in volume_names(n) and "huge" not in volume_names(n),
          "a refused CreateVolume left a volume on " + n)

# DeleteVolume
bad(I, C, "DeleteVolume", "volume_id is required")
# ControllerPublish / Unpublish
bad(I, C, "ControllerPublishVolume", "volume_id", node_id="n1", volume_capability=cap)
bad(I, C, "ControllerPublishVolume", "node_id", volume_id="sec", volume_capability=cap)
bad(I, C, "ControllerPublishVolume", "volume_capability", volume_id="sec", node_id="n1")
bad(I, C, "ControllerPublishVolume", "not supported", volume_id="sec", node_id="n1",
    volume_capability=mount_cap(mode="MULTI_NODE_READER_ONLY"))
bad("NOT_FOUND", C, "ControllerPublishVolume", "no volume", volume_id="nope", node_id="n1",
    volume_capability=cap)
bad(I, C, "ControllerUnpublishVolume", "volume_id", node_id="n1")
bad(I, C, "ControllerUnpublishVolume", "node_id", volume_id="sec")
# ValidateVolumeCapabilities
bad(I, C, "ValidateVolumeCapabilities", "volume_id", volume_capabilities=[cap])
bad(I, C, "ValidateVolumeCapabilities", "volume_capabilities", volume_id="sec")
bad("NOT_FOUND", C, "ValidateVolumeCapabilities", "no volume", volume_id="nope",
    volume_capabilities=[cap])
r = ctl.call(C, "ValidateVolumeCapabilities", volume_id="sec", volume_capabilities=[cap])
eq([cap], list(r.confirmed.volume_capabilities), "confirmed capabilities echo the request")
r = ctl.call(C, "ValidateVolumeCapabilities", volume_id="sec",
             volume_capabilities=[mount_cap(mode="MULTI_NODE_MULTI_WRITER")])
check(not r.HasField("confirmed") and "not supported" in r.message, "unconfirmed: %s" % r)
# ListVolumes
bad("ABORTED", C, "ListVolumes", "bad starting_token", starting_token="zz")
bad("ABORTED", C, "ListVolumes", "past the end", starting_token="99")
bad(I, C, "ListVolumes", "max_entries", max_entries=-1)
# paging walks every volume once
for i in range(3):
    ctl.call(C, "CreateVolume", name="page%d" % i, volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=MiB))
seen, tok = [], ""
while True:
    r = ctl.call(C, "ListVolumes", max_entries=2, starting_token=tok)
    check(len(r.entries) <= 2, "page larger than max_entries")
    seen += [e.volume.volume_id for e in r.entries]
    tok = r.next_token
    if not tok:
        break
eq(["page0", "page1", "page2", "sec"], seen, "paged ListVolumes")
# GetCapacity
bad(I, C, "GetCapacity", "may only name", accessible_topology=pb.Topology(segments={"rack": "1"}))
# ControllerExpandVolume
bad(I, C, "ControllerExpandVolume", "volume_id", capacity_range=pb.CapacityRange(required_bytes=MiB))
bad(I, C, "ControllerExpandVolume", "capacity_range", volume_id="sec")
bad(I, C, "ControllerExpandVolume", "bad capacity_range", volume_id="sec",
    capacity_range=pb.CapacityRange(required_bytes=2 * MiB, limit_bytes=MiB))
bad("NOT_FOUND", C, "ControllerExpandVolume", "no volume", volume_id="nope",
    capacity_range=pb.CapacityRange(required_bytes=MiB))
r = ctl.call(C, "ControllerExpandVolume", volume_id="sec",
             capacity_range=pb.CapacityRange(required_bytes=MiB // 2))
eq(MiB, r.capacity_bytes, "expanding to less than the size answers the size")
# Snapshots
bad(I, C, "CreateSnapshot", "source_volume_id", name="s")
bad(I, C, "CreateSnapshot", "name", source_volume_id="sec")
bad(I, C, "DeleteSnapshot", "snapshot_id")
# not ours
bad("UNIMPLEMENTED", C, "ControllerGetVolume", None, volume_id="sec")
bad("UNIMPLEMENTED", C, "ControllerModifyVolume", None, volume_id="sec")

# Node service
N = "Node"
bad(I, N, "NodeStageVolume", "volume_id", staging_target_path="/tmp/x", volume_capability=cap)
bad(I, N, "NodeStageVolume", "staging_target_path", volume_id="sec", volume_capability=cap)
bad(I, N, "NodeStageVolume", "volume_capability", volume_id="sec", staging_target_path="/tmp/x")
bad(I, N, "NodeStageVolume", "filesystem btrfs", volume_id="sec", staging_target_path="/tmp/x",
    volume_capability=mount_cap("btrfs"))
bad(I, N, "NodeUnstageVolume", "volume_id", staging_target_path="/tmp/x")
bad(I, N, "NodeUnstageVolume", "staging_target_path", volume_id="sec")
bad(I, N, "NodePublishVolume", "volume_id", staging_target_path="/s", target_path="/t",
    volume_capability=cap)
bad(I, N, "NodePublishVolume", "staging_target_path", volume_id="sec", target_path="/t",
    volume_capability=cap)
bad(I, N, "NodePublishVolume", "target_path", volume_id="sec", staging_target_path="/s",
    volume_capability=cap)
bad(I, N, "NodePublishVolume", "volume_capability", volume_id="sec", staging_target_path="/s",
    target_path="/t")
bad("FAILED_PRECONDITION", N, "NodePublishVolume", "not staged", volume_id="sec",
    staging_target_path=T + "/s", target_path=T + "/t", volume_capability=cap)
bad(I, N, "NodeUnpublishVolume", "volume_id", target_path="/t")
bad(I, N, "NodeUnpublishVolume", "target_path", volume_id="sec")
bad(I, N, "NodeGetVolumeStats", "volume_id", volume_path="/t")
bad(I, N, "NodeGetVolumeStats", "volume_path", volume_id="sec")
bad("NOT_FOUND", N, "NodeGetVolumeStats", None, volume_id="sec", volume_path=T + "/missing")
bad("NOT_FOUND", N, "NodeGetVolumeStats", "not a mounted volume", volume_id="sec",
    volume_path=T)
bad(I, N, "NodeExpandVolume", "volume_id", volume_path="/t")
bad(I, N, "NodeExpandVolume", "volume_path", volume_id="sec")
bad("NOT_FOUND", N, "NodeExpandVolume", "not staged", volume_id="sec", volume_path=T + "/t")
# ids that are not Tandem volume names never reach the state directory
bad("NOT_FOUND", N, "NodeStageVolume", "no volume", volume_id="..", staging_target_path=T + "/s",
    volume_capability=cap)
bad("NOT_FOUND", N, "NodeStageVolume", "no volume", volume_id="../../etc", staging_target_path=T + "/s",
    volume_capability=cap)
# unstage / unpublish of something never staged: OK (idempotent)
node.call(N, "NodeUnstageVolume", volume_id="sec", staging_target_path=T + "/s")
node.call(N, "NodeUnpublishVolume", volume_id="sec", target_path=T + "/t")
# a request that does not decode
try:
    node.channel.unary_unary("/csi.v1.Node/NodeGetInfo")(b"\xff\xff\xff", timeout=10)
    fail("garbage request answered OK")
except grpc.RpcError as e:
    eq("INVALID_ARGUMENT", e.code().name, "undecodable request")
print("validation ok")
