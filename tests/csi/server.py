import sys
import threading
from csi_client import *

port = sys.argv[1]
for name, target in (("controller", "unix://%s/controller.sock" % T),
                     ("bare", "unix://%s/bare.sock" % T), ("short", "unix://%s/short.sock" % T),
                     ("tcp", "127.0.0.1:%s" % port)):
    p = Plugin(name)
    p.channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(p.channel).result(timeout=20)
    eq("csi.tandem.io", p.call("Identity", "GetPluginInfo").name, "GetPluginInfo via " + name)

# concurrency: each GetCapacity asks three daemons; 16 at once on 4 workers
ctl = Plugin("controller")
results, errors = [], []


def one():
    try:
        r = ctl._stub("Controller", "GetCapacity")(pb.GetCapacityRequest(), timeout=60)
        results.append(r.available_capacity)
    except grpc.RpcError as e:
        errors.append(e.code().name)


ts = [threading.Thread(target=one) for _ in range(16)]
for t in ts:
    t.start()
for t in ts:
    t.join()
eq([], errors, "errors under concurrency")
eq(16, len(results), "answers under concurrency")
check(all(r > 0 for r in results), "capacities")
print("server ok")
