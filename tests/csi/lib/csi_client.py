"""A CSI client for the conformance scenarios: plays kubelet and the CSI sidecars.

Every call goes over the plugin's real Unix socket with Debian's grpcio, using stubs that
protoc generates from proto/csi.proto at test time (tests/csi/lib/csi.sh). Requests are built
by method name: call("Controller", "CreateVolume", name="x") sends a CreateVolumeRequest.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

import grpc
import csi_pb2 as pb

T = os.environ.get("T", "/tmp")
TOPO = "topology.kubernetes.io/zone"


class CsiError(AssertionError):
    pass


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def eq(expected, actual, what):
    if expected != actual:
        fail("%s: expected %r, got %r" % (what, expected, actual))


class Plugin:
    def __init__(self, name):
        self.name = name
        self.channel = grpc.insecure_channel("unix://%s/%s.sock" % (T, name))

    def _stub(self, service, method):
        resp_cls = getattr(pb, method + "Response")
        return self.channel.unary_unary(
            "/csi.v1.%s/%s" % (service, method),
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=resp_cls.FromString)

    def call(self, service, method, _timeout=120, **fields):
        req = getattr(pb, method + "Request")(**fields)
        try:
            return self._stub(service, method)(req, timeout=_timeout)
        except grpc.RpcError as e:
            fail("%s.%s on %s failed: %s %s" % (service, method, self.name, e.code().name,
                                                e.details()))

    def expect(self, code, service, method, **fields):
        """Calls and asserts the gRPC status code name (e.g. "NOT_FOUND"); returns details."""
        req = getattr(pb, method + "Request")(**fields)
        try:
            self._stub(service, method)(req, timeout=120)
        except grpc.RpcError as e:
            if e.code().name != code:
                fail("%s.%s%s: expected %s, got %s (%s)" % (
                    service, method, " " + str(fields) if fields else "", code, e.code().name,
                    e.details()))
            return e.details()
        fail("%s.%s %s: expected %s, got OK" % (service, method, fields, code))


def mount_cap(fs="ext4", mode="SINGLE_NODE_WRITER", flags=()):
    return pb.VolumeCapability(
        mount=pb.VolumeCapability.MountVolume(fs_type=fs, mount_flags=list(flags)),
        access_mode=pb.VolumeCapability.AccessMode(
            mode=pb.VolumeCapability.AccessMode.Mode.Value(mode)))


def block_cap(mode="SINGLE_NODE_WRITER"):
    return pb.VolumeCapability(
        block=pb.VolumeCapability.BlockVolume(),
        access_mode=pb.VolumeCapability.AccessMode(
            mode=pb.VolumeCapability.AccessMode.Mode.Value(mode)))


def zone(z):
    return pb.Topology(segments={TOPO: z})


def zones_of(volume):
    return sorted(t.segments[TOPO] for t in volume.accessible_topology)


def tandemctl(node, *args):
    """tandemctl against daemon NODE's control socket; returns parsed JSON."""
    out = subprocess.run([os.environ["TANDEMCTL"], "--control", "%s/%s/control.sock" % (T, node)]
                         + list(args) + ["--json"], capture_output=True, text=True)
    if out.returncode != 0:
        return {"_rc": out.returncode, "_err": out.stderr.strip()}
    return json.loads(out.stdout)


def volume_names(node):
    return sorted(v["name"] for v in tandemctl(node, "volume", "list"))


def role(node, vol):
    return tandemctl(node, "volume", "status", vol).get("role")


def wait_until(timeout, what, fn):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.05)


MiB = 1 << 20


def export_sha(node, vol, size):
    """SHA-256 of the first size bytes of VOL's NBD export on daemon NODE (libnbd)."""
    import nbd
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///%s?socket=%s/%s/nbd.sock" % (vol, T, node))
    s = hashlib.sha256()
    for off in range(0, size, 4 * MiB):
        s.update(h.pread(min(4 * MiB, size - off), off))
    h.shutdown()
    return s.hexdigest()


def primary(vol, nodes=("n1", "n2", "n3")):
    return [n for n in nodes if role(n, vol) == "primary"][0]


def provision_and_attach(ctl, node_plugin, node, vol, size, cap, staging, target, replicas=3):
    """The provisioner's CreateVolume (primary preferred in NODE's zone), the attacher's
    ControllerPublish to NODE, kubelet's NodeStage + NodePublish. Returns (ctx, publish ctx)."""
    v = ctl.call("Controller", "CreateVolume", name=vol, volume_capabilities=[cap],
                 capacity_range=pb.CapacityRange(required_bytes=size),
                 parameters={"replicas": str(replicas)},
                 accessibility_requirements=pb.TopologyRequirement(
                     preferred=[zone("zone-" + node)])).volume
    ctx = dict(v.volume_context)
    pctx = dict(ctl.call("Controller", "ControllerPublishVolume", volume_id=vol, node_id=node,
                         volume_capability=cap, volume_context=ctx).publish_context)
    stage_and_publish(node_plugin, vol, cap, ctx, pctx, staging, target)
    return ctx, pctx


def stage_and_publish(node_plugin, vol, cap, ctx, pctx, staging, target):
    node_plugin.call("Node", "NodeStageVolume", volume_id=vol, publish_context=pctx,
                     staging_target_path=staging, volume_capability=cap, volume_context=ctx)
    node_plugin.call("Node", "NodePublishVolume", volume_id=vol, publish_context=pctx,
                     staging_target_path=staging, target_path=target, volume_capability=cap,
                     volume_context=ctx)
