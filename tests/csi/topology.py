from csi_client import *

ctl = Plugin("controller")
MiB = 1 << 20
caps = [mount_cap()]
ALL = [zone("zone-n1"), zone("zone-n2"), zone("zone-n3")]


def create(name, replicas, requisite=(), preferred=(), **params):
    params["replicas"] = str(replicas)
    return ctl.call("Controller", "CreateVolume", name=name, volume_capabilities=caps,
                    capacity_range=pb.CapacityRange(required_bytes=16 * MiB), parameters=params,
                    accessibility_requirements=pb.TopologyRequirement(
                        requisite=list(requisite), preferred=list(preferred))).volume


def placement(name):
    """node -> role, for the daemons holding the volume"""
    return {n: role(n, name) for n in ("n1", "n2", "n3") if name in volume_names(n)}


# WaitForFirstConsumer: the scheduler picked a node in zone-n2 -> first preferred; primary there
v = create("spread", 3, ALL, [zone("zone-n2"), zone("zone-n3"), zone("zone-n1")])
eq(["zone-n1", "zone-n2", "zone-n3"], zones_of(v), "accessible topology of spread")
eq({"n1": "secondary", "n2": "primary", "n3": "secondary"}, placement("spread"), "spread roles")
eq("n2,n3,n1", v.volume_context["tandem.io/replicas"], "replica order follows preference")

v = create("pref3", 3, ALL, [zone("zone-n3")])
eq("primary", role("n3", "pref3"), "first preferred zone gets the primary")

# requisite restricts: two replicas in zone-n1 and zone-n3 only
v = create("pair", 2, [zone("zone-n1"), zone("zone-n3")], [zone("zone-n3")])
eq(["zone-n1", "zone-n3"], zones_of(v), "pair zones")
eq({"n1": "secondary", "n3": "primary"}, placement("pair"), "pair roles")

# the StorageClass zones parameter restricts too
v = create("zparam", 2, zones="zone-n2, zone-n3")
eq(["zone-n2", "zone-n3"], zones_of(v), "zones parameter")
eq(["n2", "n3"], sorted(placement("zparam")), "zones parameter placement")

# single replica lands in the preferred zone
v = create("solo", 1, ALL, [zone("zone-n1")])
eq(["zone-n1"], zones_of(v), "solo zone")
eq({"n1": ""}, {k: v or "" for k, v in placement("solo").items()}, "solo placement")

# impossible: more replicas than allowed zones
d = ctl.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="toomany",
               volume_capabilities=caps, parameters={"replicas": "2"},
               accessibility_requirements=pb.TopologyRequirement(requisite=[zone("zone-n1")]))
check("need 2 replicas in distinct zones, found 1" in d, "reason: " + d)
check("2 outside the allowed topology" in d, "reason names the topology: " + d)
d = ctl.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="toomany4",
               volume_capabilities=caps, parameters={"replicas": "4"})
check("found 3" in d, "reason: " + d)
# an unknown topology key matches no node
ctl.expect("RESOURCE_EXHAUSTED", "Controller", "CreateVolume", name="rack",
           volume_capabilities=caps, accessibility_requirements=pb.TopologyRequirement(
               requisite=[pb.Topology(segments={"rack": "r1"})]))
for n in ("n1", "n2", "n3"):
    check("toomany" not in volume_names(n) and "rack" not in volume_names(n),
          "failed creates left nothing on " + n)
print("topology ok")
