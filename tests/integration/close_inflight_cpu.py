"""Helper of test_close_inflight_cpu.sh: fills the page cache with WRITEs (writeback mode), then
sends FLUSH and DISC and closes at once, so the connection closes while the flush is still in
the kernel. Prints the wall time until the daemon logged the disconnect and the CPU time the
daemon used meanwhile (utime + stime from /proc/PID/stat)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nbdraw import CMD, Raw  # noqa: E402

sock, pid, log, mib = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
tck = os.sysconf("SC_CLK_TCK")


def cpu():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tck


c = Raw(sock, timeout=60)
c.greeting()
c.go("v")
chunk = os.urandom(1 << 20)
window = 16
for i in range(mib):
    c.request(CMD["WRITE"], i << 20, 1 << 20, cookie=i, payload=chunk)
    if i >= window:
        _, err, _ = c.response()
        assert err == 0, "write failed: %d" % err
for _ in range(min(window, mib)):
    _, err, _ = c.response()
    assert err == 0, "write failed: %d" % err
before = open(log).read().count("disconnected")
c.request(CMD["FLUSH"], cookie=999999)
c.request(CMD["DISC"])
c.s.close()
t0, c0 = time.monotonic(), cpu()
while open(log).read().count("disconnected") == before:
    if time.monotonic() - t0 > 60:
        sys.exit("the daemon never closed the connection")
    time.sleep(0.01)
t1, c1 = time.monotonic(), cpu()
print("%.3f %.3f" % (t1 - t0, c1 - c0))
