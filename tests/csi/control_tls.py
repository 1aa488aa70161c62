import socket
import sys
from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
cap = mount_cap()

# everything through the bridges
check(ctl.call("Identity", "Probe").ready.value, "the controller is ready through TLS")
v = ctl.call("Controller", "CreateVolume", name="tv", volume_capabilities=[cap],
             capacity_range=pb.CapacityRange(required_bytes=16 * MiB),
             parameters={"replicas": "3"}).volume
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "three zones, learned through TLS")
for n in ("n1", "n2", "n3"):
    check("tv" in volume_names(n), "tv on " + n)
ctl.call("Controller", "ControllerPublishVolume", volume_id="tv", node_id="n3",
         volume_capability=cap, volume_context=dict(v.volume_context))
eq("primary", role("n3", "tv"), "published to n3 through its bridge")
s = ctl.call("Controller", "CreateSnapshot", source_volume_id="tv", name="ts").snapshot
eq("tv@ts", s.snapshot_id, "snapshot through TLS")
eq(["tv"], [e.volume.volume_id for e in ctl.call("Controller", "ListVolumes").entries],
   "ListVolumes")
check(ctl.call("Controller", "GetCapacity").available_capacity > 0, "capacity through TLS")

# refused: another CA, another name, a bridge with another node's certificate
for name in ("rogue", "intruder"):
    p = Plugin(name)
    eq(False, p.call("Identity", "Probe").ready.value, name + " is not ready: no node answers")
    d = p.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="x" + name,
                 volume_capabilities=[cap], capacity_range=pb.CapacityRange(required_bytes=MiB))
    check("3 unreachable" in d, d)
d = Plugin("swapped").expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="xs",
                             volume_capabilities=[cap], parameters={"replicas": "3"},
                             capacity_range=pb.CapacityRange(required_bytes=MiB))
check("1 unreachable" in d, d)
for n in ("n1", "n2", "n3"):
    eq(["tv"], volume_names(n), "nothing created by the refused controllers on " + n)

# plain TCP: a JSON request gets no JSON answer
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(b'{"op":"volume.list"}\n')
got = b""
try:
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
except (ConnectionResetError, socket.timeout):
    pass
check(b'"ok"' not in got, "plain TCP got an answer: %r" % got[:200])

ctl.call("Controller", "DeleteSnapshot", snapshot_id="tv@ts")
ctl.call("Controller", "ControllerUnpublishVolume", volume_id="tv", node_id="n3")
ctl.call("Controller", "DeleteVolume", volume_id="tv")
for n in ("n1", "n2", "n3"):
    eq([], volume_names(n), "tv deleted on " + n)
print("control over mutual TLS ok")
