import os
import sys
from csi_client import *

ctl, node = Plugin("controller"), Plugin("node_n2")
for p in (ctl, node):
    info = p.call("Identity", "GetPluginInfo")
    eq("csi.tandem.io", info.name, "driver name")
    eq("0.1.0", info.vendor_version, "vendor version")
    caps = p.call("Identity", "GetPluginCapabilities").capabilities
    eq(["CONTROLLER_SERVICE", "VOLUME_ACCESSIBILITY_CONSTRAINTS"],
       [pb.PluginCapability.Service.Type.Name(c.service.type) for c in caps if c.HasField("service")],
       "service capabilities")
    eq(["ONLINE"], [pb.PluginCapability.VolumeExpansion.Type.Name(c.volume_expansion.type)
                     for c in caps if c.HasField("volume_expansion")], "expansion capability")
    r = p.call("Identity", "Probe")
    check(r.HasField("ready"), "Probe must say ready or not")
    eq(sys.argv[1] == "ready", r.ready.value, "Probe ready on " + p.name)

if sys.argv[1] == "ready":
    ni = node.call("Node", "NodeGetInfo")
    eq("n2", ni.node_id, "node id")
    eq({TOPO: "zone-n2"}, dict(ni.accessible_topology.segments), "node topology")
    nbds = len([d for d in os.listdir("/dev") if d.startswith("nbd") and d[3:].isdigit()])
    eq(nbds, ni.max_volumes_per_node, "max volumes = the kernel's nbd devices (0: none)")
    ncaps = sorted(pb.NodeServiceCapability.RPC.Type.Name(c.rpc.type)
                   for c in node.call("Node", "NodeGetCapabilities").capabilities)
    eq(["EXPAND_VOLUME", "GET_VOLUME_STATS", "SINGLE_NODE_MULTI_WRITER", "STAGE_UNSTAGE_VOLUME", "VOLUME_CONDITION"],
       ncaps, "node capabilities")
    # each mode serves only its own service
    ctl.expect("UNIMPLEMENTED", "Node", "NodeGetInfo")
    node.expect("UNIMPLEMENTED", "Controller", "ControllerGetCapabilities")
print("identity ok:", sys.argv[1])
