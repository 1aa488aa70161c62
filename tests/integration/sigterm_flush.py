"""Helper of test_sigterm_inflight_flush.sh: dirties the page cache with WRITEs (writeback
mode), sends a FLUSH and SIGTERMs the daemon while that flush is in the kernel. The FLUSH must
still be answered with success, then the daemon closes the connection."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nbdraw import CMD, Raw  # noqa: E402

sock, pid, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = Raw(sock, timeout=30)
c.greeting()
c.go("v")
chunk = os.urandom(1 << 20)
for i in range(mib):
    c.request(CMD["WRITE"], i << 20, 1 << 20, cookie=i, payload=chunk)
    if i >= 16:
        assert c.response()[1] == 0, "write failed"
for _ in range(min(16, mib)):
    assert c.response()[1] == 0, "write failed"
c.request(CMD["FLUSH"], cookie=424242)
os.kill(pid, signal.SIGTERM)
cookie, err, _ = c.response()
assert (cookie, err) == (424242, 0), "FLUSH answered %d error %d" % (cookie, err)
assert c.closed_by_server(), "connection not closed after the FLUSH reply"
