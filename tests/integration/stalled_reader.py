"""Helper of test_shutdown_grace.sh: pipelines N 1 MiB READs, reads no reply, signals the
daemon (SIGTERM) once its memory shows the replies queued, and keeps the connection open
without reading until the daemon closes it. Prints the seconds from the signal to EOF."""
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nbdraw import CMD, Raw  # noqa: E402

sock, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = Raw(sock, timeout=60)
c.greeting()
c.go("v", structured=False)
c.s.sendall(b"".join(struct.pack(">IHHQQI", 0x25609513, 0, CMD["READ"], i, 0, 1 << 20)
                     for i in range(n)))
time.sleep(1)
os.kill(pid, signal.SIGTERM)
t0 = time.monotonic()
# Wait, still not reading, until the daemon gives up on us: it shuts its end, which shows as
# the peer having gone (POLLHUP) even with our receive buffer full.
import select  # noqa: E402
p = select.poll()
p.register(c.s, select.POLLRDHUP | select.POLLHUP)
while True:
    ev = p.poll(60000)
    if not ev:
        sys.exit("the daemon never closed the connection")
    if ev[0][1] & (select.POLLRDHUP | select.POLLHUP):
        break
print("%.1f" % (time.monotonic() - t0))
