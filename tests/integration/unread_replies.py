"""Helper of test_unread_replies_memory.sh: pipelines N 1 MiB READs without reading a single
reply, reports how much the daemon's resident memory grew (VmHWM against the VmRSS before),
then reads every reply (in whatever order they come) and checks its cookie and its bytes (MiB
k of the volume holds byte k+1).
Prints: growth_mib."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nbdraw import CMD, SIMPLE_MAGIC, Raw  # noqa: E402

sock, pid, n, vol_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
MIB = 1 << 20


def status_kib(key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


c = Raw(sock, timeout=60)
c.greeting()
c.go("v", structured=False)
base = status_kib("VmRSS")
reqs = b"".join(struct.pack(">IHHQQI", 0x25609513, 0, CMD["READ"], i, (i % vol_mib) * MIB, MIB)
                for i in range(n))
c.s.sendall(reqs)  # small enough for the socket buffer: nothing here reads
time.sleep(3)
grown = (status_kib("VmHWM") - base) // 1024

buf = bytearray(16 + MIB)
view = memoryview(buf)
expect = [bytes([k + 1]) * MIB for k in range(vol_mib)]
seen = set()
for i in range(n):
    got = 0
    while got < len(buf):
        r = c.s.recv_into(view[got:], len(buf) - got)
        if r == 0:
            sys.exit("server closed after %d replies" % i)
        got += r
    magic, err, cookie = struct.unpack(">IIQ", buf[:16])
    if magic != SIMPLE_MAGIC or err != 0 or cookie >= n or cookie in seen:
        sys.exit("reply %d: magic %x error %d cookie %d" % (i, magic, err, cookie))
    seen.add(cookie)
    if view[16:] != expect[cookie % vol_mib]:
        sys.exit("reply %d (cookie %d): wrong data" % (i, cookie))
c.request(CMD["DISC"])
print(grown)
