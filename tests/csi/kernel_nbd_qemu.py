import sys
import grpc
from csi_client import *

gp, nbdp, target = sys.argv[1], sys.argv[2], sys.argv[3]
ctl = Plugin("controller")
vm = Plugin("vm-node-n1")
vm.channel = grpc.insecure_channel("127.0.0.1:" + gp)
grpc.channel_ready_future(vm.channel).result(timeout=120)
MiB = 1 << 20
cap = mount_cap("ext4")

info = vm.call("Node", "NodeGetInfo")
eq("n1", info.node_id, "VM node id")
eq({TOPO: "zone-n1"}, dict(info.accessible_topology.segments), "VM zone")
v = ctl.call("Controller", "CreateVolume", name="kvol", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=64 * MiB),
             parameters={"replicas": "3"},
             accessibility_requirements=pb.TopologyRequirement(preferred=[zone("zone-n1")])).volume
ctx = dict(v.volume_context)
pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id="kvol", node_id="n1",
                     volume_capability=cap, volume_context=ctx).publish_context)
eq("n1", pctx["tandem.io/primary"], "primary")
# n1 exports NBD on 0.0.0.0:PORT; inside the VM the host is 10.0.2.2 (QEMU user networking)
pctx["tandem.io/nbd"] = "10.0.2.2:" + nbdp
staging = "/var/lib/kubelet/plugins/kubernetes.io/csi/csi.tandem.io/kvol/globalmount"
vm.call("Node", "NodeStageVolume", volume_id="kvol", publish_context=pctx,
        staging_target_path=staging, volume_capability=cap, volume_context=ctx)
vm.call("Node", "NodePublishVolume", volume_id="kvol", publish_context=pctx,
        staging_target_path=staging, target_path=target, volume_capability=cap,
        volume_context=ctx)
wait_until(180, "the VM to write its files",
           lambda: "VM-WROTE" in open(T + "/console.log", errors="replace").read())
st = vm.call("Node", "NodeGetVolumeStats", volume_id="kvol", volume_path=target)
b = [u for u in st.usage if u.unit == pb.VolumeUsage.BYTES][0]
check(b.used > 2 * MiB, "used bytes in the VM's filesystem: %d" % b.used)

# online expansion while published: the controller grows every replica, the node plugin in the
# VM grows /dev/nbd0 and the mounted ext4
r = ctl.call("Controller", "ControllerExpandVolume", volume_id="kvol",
             capacity_range=pb.CapacityRange(required_bytes=128 * MiB), volume_capability=cap)
eq(128 * MiB, r.capacity_bytes, "controller expand")
check(r.node_expansion_required, "node expansion required for a filesystem")
caps = vm.call("Identity", "GetPluginCapabilities").capabilities
eq(["ONLINE"], [pb.PluginCapability.VolumeExpansion.Type.Name(c.volume_expansion.type)
                for c in caps if c.HasField("volume_expansion")], "online expansion offered")
n = vm.call("Node", "NodeExpandVolume", volume_id="kvol", volume_path=target,
            staging_target_path=staging, volume_capability=cap,
            capacity_range=pb.CapacityRange(required_bytes=128 * MiB), _timeout=300)
eq(128 * MiB, n.capacity_bytes, "the VM's device after NodeExpandVolume")
st2 = vm.call("Node", "NodeGetVolumeStats", volume_id="kvol", volume_path=target)
b2 = [u for u in st2.usage if u.unit == pb.VolumeUsage.BYTES][0]
check(b2.total > 100 * MiB, "statfs total in the VM after the grow: %d (was %d)" % (b2.total, b.total))
check(b2.used >= b.used, "nothing lost: used %d, was %d" % (b2.used, b.used))
# repeated: nothing more to do, same answer
eq(128 * MiB, vm.call("Node", "NodeExpandVolume", volume_id="kvol", volume_path=target,
                      staging_target_path=staging, volume_capability=cap,
                      capacity_range=pb.CapacityRange(required_bytes=128 * MiB),
                      _timeout=300).capacity_bytes, "repeated NodeExpandVolume")
wait_until(180, "the VM to use the grown filesystem",
           lambda: "VM-GREW" in open(T + "/console.log", errors="replace").read())
vm.call("Node", "NodeUnpublishVolume", volume_id="kvol", target_path=target)
vm.call("Node", "NodeUnstageVolume", volume_id="kvol", staging_target_path=staging)
wait_until(60, "the VM to see nbd0 detached",
           lambda: "VM-DETACHED" in open(T + "/console.log", errors="replace").read())
wait_until(20, "n1 to see the VM's client leave",
           lambda: tandemctl("n1", "volume", "status", "kvol")["clients"] == 0)
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="kvol", node_id="n1")
print("kernel NBD path ok")
