"""make demo's CSI section: the calls the external-provisioner, the attacher and kubelet make for
a Jenkins PVC on StorageClass tandem-r3, sent to the real tandem-csi plugins and printed as
they happen. Arguments: the demo directory (plugin sockets live there)."""
import os
import sys
import time

from google.protobuf import text_format

import csi_client
from csi_client import Plugin, mount_cap, pb, zone

D = sys.argv[1]
csi_client.T = D
ctl, node = Plugin("controller"), Plugin("node")


def show(who, svc, method, **req):
    r = getattr(pb, method + "Request")(**req)
    print("\033[36m%s -> %s/%s\033[0m %s" % (who, svc, method,
                                           text_format.MessageToString(r, as_one_line=True)))
    resp = (ctl if svc != "Node" else node).call(svc, method, **req)
    print("   <- %s" % (text_format.MessageToString(resp, as_one_line=True) or "{}"))
    return resp


cap = mount_cap("ext4")
show("provisioner", "Identity", "GetPluginInfo")
v = show("provisioner", "Controller", "CreateVolume", name="pvc-jenkins-home",
         volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=1 << 30),
         parameters={"replicas": "3", "csi.storage.k8s.io/fstype": "ext4"},
         accessibility_requirements=pb.TopologyRequirement(
             requisite=[zone("zone-1"), zone("zone-2"), zone("zone-3")],
             preferred=[zone("zone-2")])).volume
ctx = dict(v.volume_context)
p = show("attacher", "Controller", "ControllerPublishVolume", volume_id=v.volume_id,
         node_id="node-2", volume_capability=cap, volume_context=ctx).publish_context
if not os.path.exists("/dev/nbd0") and not os.path.exists("/dev/fuse"):
    print("(no /dev/nbd0 and no /dev/fuse here: kubelet's part is skipped)")
else:
    staging = D + "/kubelet/plugins/csi.tandem.io/pv/pvc-jenkins-home/globalmount"
    target = D + "/kubelet/pods/jenkins-0/volumes/jenkins-home/mount"
    show("kubelet", "Node", "NodeStageVolume", volume_id=v.volume_id, publish_context=dict(p),
         staging_target_path=staging, volume_capability=cap, volume_context=ctx)
    show("kubelet", "Node", "NodePublishVolume", volume_id=v.volume_id, publish_context=dict(p),
         staging_target_path=staging, target_path=target, volume_capability=cap,
         volume_context=ctx)
    os.makedirs(target + "/jobs/build-app", exist_ok=True)
    with open(target + "/config.xml", "w") as f:
        f.write("<hudson><numExecutors>2</numExecutors></hudson>\n")
        os.fsync(f.fileno())
    print("   (jenkins writes %s/config.xml)" % target)
    show("kubelet", "Node", "NodeGetVolumeStats", volume_id=v.volume_id, volume_path=target)
    show("kubelet", "Node", "NodeUnpublishVolume", volume_id=v.volume_id, target_path=target)
    show("kubelet", "Node", "NodeUnstageVolume", volume_id=v.volume_id,
         staging_target_path=staging)
    # a VolumeSnapshot of it, shipped to a file:// backup store (s3:// in production), and a
    # PVC restored from that snapshot, as in the DR region
    store = "file://%s/backups" % D
    snap = None
    for _ in range(600):  # the snapshotter polls CreateSnapshot until ready_to_use
        snap = ctl.call("Controller", "CreateSnapshot", source_volume_id=v.volume_id,
                        name="snapshot-jenkins-nightly", parameters={"target": store}).snapshot
        if snap.ready_to_use:
            break
        time.sleep(0.1)
    show("snapshotter", "Controller", "CreateSnapshot", source_volume_id=v.volume_id,
         name="snapshot-jenkins-nightly", parameters={"target": store})
    r = show("provisioner", "Controller", "CreateVolume", name="pvc-jenkins-restored",
             volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=1 << 30),
             parameters={"replicas": "3"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-2")]),
             volume_content_source=pb.VolumeContentSource(
                 snapshot=pb.VolumeContentSource.SnapshotSource(
                     snapshot_id=snap.snapshot_id))).volume
    rp = show("attacher", "Controller", "ControllerPublishVolume", volume_id=r.volume_id,
              node_id="node-2", volume_capability=cap,
              volume_context=dict(r.volume_context)).publish_context
    rst, rtg = staging + "-restored", target + "-restored"
    show("kubelet", "Node", "NodeStageVolume", volume_id=r.volume_id, publish_context=dict(rp),
         staging_target_path=rst, volume_capability=cap, volume_context=dict(r.volume_context))
    show("kubelet", "Node", "NodePublishVolume", volume_id=r.volume_id, publish_context=dict(rp),
         staging_target_path=rst, target_path=rtg, volume_capability=cap,
         volume_context=dict(r.volume_context))
    print("   (the restored volume's config.xml: %s)" % open(rtg + "/config.xml").read().strip())
    show("kubelet", "Node", "NodeUnpublishVolume", volume_id=r.volume_id, target_path=rtg)
    show("kubelet", "Node", "NodeUnstageVolume", volume_id=r.volume_id, staging_target_path=rst)
    show("attacher", "Controller", "ControllerUnpublishVolume", volume_id=r.volume_id,
         node_id="node-2")
    show("snapshotter", "Controller", "DeleteSnapshot", snapshot_id=snap.snapshot_id)
    show("provisioner", "Controller", "DeleteVolume", volume_id=r.volume_id)
show("attacher", "Controller", "ControllerUnpublishVolume", volume_id=v.volume_id,
     node_id="node-2")
show("provisioner", "Controller", "DeleteVolume", volume_id=v.volume_id)
