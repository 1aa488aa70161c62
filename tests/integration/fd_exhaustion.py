"""Helper of test_accept_emfile.sh: opens N connections to a daemon whose descriptor limit
leaves room for only a few, holds them for a while and reports the daemon's CPU time over that
window (utime + stime, seconds), then closes them all."""
import os
import socket
import sys
import time

sock, pid, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
tck = os.sysconf("SC_CLK_TCK")


def cpu():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tck


conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)  # the listen backlog (128) takes them whether or not they are accepted
    conns.append(s)
time.sleep(0.3)
c0 = cpu()
time.sleep(hold)
print("%.2f" % (cpu() - c0))
for s in conns:
    s.close()
