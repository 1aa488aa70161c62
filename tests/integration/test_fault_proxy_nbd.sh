#!/usr/bin/env bash
# NBD over TCP through tests/tools/tcp_fault_proxy: proves the proxy forwards byte-exactly, delays
# without serializing, stalls without losing bytes, drops with RST, flips exactly the byte asked
# for, refuses, blackholes and injects random faults; and that tandemd survives each of them
# with acknowledged data intact. $T/expect.img models the volume throughout.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/faultproxy.sh"
PY=/usr/bin/python3
MiB=$((1024 * 1024))
PORT=$((20000 + RANDOM % 20000))
start_daemon n1 --nbd 127.0.0.1:$PORT
ctl n1 volume create v --size 32M >/dev/null
fp_start p 127.0.0.1:$PORT
VIA=nbd://127.0.0.1:${p_PORT:?}/v
DIRECT=nbd://127.0.0.1:$PORT/v
export T VIA DIRECT PY_PORT=$p_PORT PYTHONPATH=$TANDEM_ROOT/tests/lib:$T

# Python side: the control socket, a raw NBD client over TCP, bounded waits.
cat >"$T/fpt.py" <<'EOF'
import os, socket, sys, time
import nbdraw

T, VIA, DIRECT = os.environ["T"], os.environ["VIA"], os.environ["DIRECT"]
PORT = int(os.environ["PY_PORT"])
EXPECT = open(os.path.join(T, "expect.img"), "rb").read()

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

def ctl(*cmds):
    """Sends all commands in one write (so the proxy handles them back to back)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(os.path.join(T, "p.ctl"))
    s.sendall("".join(c + "\n" for c in cmds).encode())
    f = s.makefile("r")
    answers = [f.readline().strip() for _ in cmds]
    s.close()
    for c, a in zip(cmds, answers):
        if not a.startswith("ok"):
            fail("proxy answered %r to %r" % (a, c))
    return answers

def stat(key):
    return int(dict(kv.split("=") for kv in ctl("stats")[0].split()[1:])[key])

def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.02)

class RawTCP(nbdraw.Raw):
    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
EOF

# ---- passthrough: an image in and out byte-identical; the proxy counted those bytes ----
log "passthrough"
rand_file "$T/expect.img" 32
up0=$(fp_stat p up_bytes)
down0=$(fp_stat p down_bytes)
nbdcopy "$T/expect.img" "$VIA"
nbdcopy "$VIA" "$T/back.img"
cmp "$T/expect.img" "$T/back.img" || fail "image changed going through the proxy"
up=$(($(fp_stat p up_bytes) - up0))
down=$(($(fp_stat p down_bytes) - down0))
log "up $up bytes, down $down bytes for 32 MiB each way"
if [ $up -lt $((32 * MiB)) ] || [ $up -gt $((33 * MiB)) ]; then
    fail "up_bytes $up for a 32 MiB write"
fi
if [ $down -lt $((32 * MiB)) ] || [ $down -gt $((33 * MiB)) ]; then
    fail "down_bytes $down for a 32 MiB read"
fi
[ "$(fp_stat p conns)" -ge 2 ] || fail "stats: fewer than 2 connections counted"
assert_eq 0 "$(fp_stat p resets)" "resets after a clean passthrough"

# ---- delay: QD1 pays the round trip every time; pipelined requests pay it once ----
log "delay"
$PY - <<'EOF'
import nbd, time
from fpt import *
h = nbd.NBD()
h.connect_uri(VIA)
ctl("delay 2000")
t0 = time.monotonic()
for i in range(50):
    off = i * 7 * 4096
    if h.pread(4096, off) != EXPECT[off:off + 4096]:
        fail("QD1 read %d through a delayed proxy differs" % i)
dt = time.monotonic() - t0
print("# 50 QD1 4 KiB reads with 2 ms each way: %.3f s" % dt)
if dt < 50 * 0.004:
    fail("50 QD1 reads took %.3f s, less than 50 round trips of 4 ms" % dt)
# 50 reads in flight at once with 20 ms each way: one round trip (40 ms), not 50 (2 s).
ctl("delay 20000")
bufs = [(nbd.Buffer(4096), i * 13 * 4096) for i in range(50)]
t0 = time.monotonic()
cookies = [h.aio_pread(b, off) for b, off in bufs]
while h.aio_in_flight() > 0:
    h.poll(-1)
dt = time.monotonic() - t0
for c in cookies:
    h.aio_command_completed(c)
for b, off in bufs:
    if b.to_bytearray() != EXPECT[off:off + 4096]:
        fail("pipelined read at %d differs" % off)
print("# 50 pipelined 4 KiB reads with 20 ms each way: %.3f s" % dt)
if dt < 0.04:
    fail("pipelined reads took %.3f s, less than one 40 ms round trip" % dt)
if dt >= 1.0:
    fail("pipelined reads took %.3f s: the delay serializes (50 round trips would be 2 s)" % dt)
ctl("delay 0")
h.shutdown()
EOF

# ---- stall mid-transfer: nothing moves while stalled, nothing is lost after ----
log "stall"
$PY - <<'EOF'
import nbd, os, time
from fpt import *
data = os.urandom(8 << 20)
h = nbd.NBD()
h.connect_uri(VIA)
h.pwrite(data[:4 << 20], 4 << 20)
ctl("stall on")
up_before = stat("up_bytes")
bufs = [nbd.Buffer.from_bytearray(bytearray(data[(4 + i) << 20:(5 + i) << 20])) for i in range(4)]
cookies = [h.aio_pwrite(b, (8 + i) << 20) for i, b in enumerate(bufs)]
deadline = time.monotonic() + 0.3  # measuring that nothing moves: a fixed window
while time.monotonic() < deadline:
    h.poll(50)
if h.aio_in_flight() != 4:
    fail("%d of 4 writes completed through a stalled proxy" % (4 - h.aio_in_flight()))
if stat("up_bytes") != up_before:
    fail("bytes reached tandemd while stalled")
if stat("queued_up") < 1 << 20:
    fail("stalled proxy buffered only %d bytes" % stat("queued_up"))
ctl("stall off")
deadline = time.monotonic() + 20
while h.aio_in_flight() > 0:
    if time.monotonic() > deadline:
        fail("writes did not complete after stall off")
    h.poll(100)
for c in cookies:
    h.aio_command_completed(c)
h.flush()
h.shutdown()
d = nbd.NBD()
d.connect_uri(DIRECT)
if d.pread(8 << 20, 4 << 20) != data:
    fail("data written across a stall differs when read directly")
d.shutdown()
with open(os.path.join(T, "expect.img"), "r+b") as f:
    f.seek(4 << 20)
    f.write(data)
print("# 4 writes held during a 0.3 s stall, then completed and read back identical")
EOF

# ---- drop mid-write: the client gets an error, tandemd logs it and keeps flushed data ----
log "drop"
$PY - <<'EOF'
import nbd, os, time
from fpt import *
flushed = os.urandom(1 << 20)
h = nbd.NBD()
h.connect_uri(VIA)
h.pwrite(flushed, 0)
h.flush()
# Hold a 16 MiB write in the proxy, then release part of it to tandemd and reset at once: the
# rest is still in this process (libnbd sends only while polled), so the request is cut for sure.
ctl("stall on")
big = nbd.Buffer.from_bytearray(bytearray(b"\xcc" * (16 << 20)))
cookie = h.aio_pwrite(big, 8 << 20)
wait_for(lambda: (h.poll(10), stat("queued_up"))[1] >= 1 << 20, 10, "the write to fill the proxy")
print("#", ctl("stall off", "drop"))
err = None
deadline = time.monotonic() + 10
try:
    while not h.aio_command_completed(cookie):
        if time.monotonic() > deadline:
            fail("client saw no error within 10 s of the drop")
        h.poll(100)
except nbd.Error as e:
    err = e
if err is None:
    fail("16 MiB write cut by a drop reported success")
print("# client error after drop:", err)
d = nbd.NBD()
d.connect_uri(DIRECT)
if d.pread(1 << 20, 0) != flushed:
    fail("data flushed before the drop differs")
# the cut region holds an unknown mix: put the model back there
d.pwrite(EXPECT[8 << 20:24 << 20], 8 << 20)
d.flush()
d.shutdown()
with open(os.path.join(T, "expect.img"), "r+b") as f:
    f.write(flushed)
EOF
grep_vanished() {
    grep -Eq "client [0-9]+ \(127\.0\.0\.1:[0-9]+\) disconnected: (connection reset|receive failed|client vanished)" "$T/n1.log"
}
wait_until 10 "tandemd to log the vanished client" grep_vanished
grep -E "disconnected: (connection reset|receive failed|client vanished)" "$T/n1.log" | sed 's/^/# /'
grep -q "reset (drop command)" "$T/p.log" || fail "proxy did not log the drop"

# ---- corrupt: one bit of the Nth request's magic upstream, one data byte downstream ----
log "corrupt"
c0=$(fp_stat p corrupted)
$PY - <<'EOF'
from fpt import *
from nbdraw import CMD
c = RawTCP(PORT)
c.greeting()
c.go("v", structured=False)
def read_ok(cookie, off):
    c.request(CMD["READ"], off, 4096, cookie=cookie)
    got = c.response(4096)
    if got != (cookie, 0, EXPECT[off:off + 4096]):
        fail("read %d before the corrupted request is wrong" % cookie)
for i in range(3):
    read_ok(i, i * 4096)
# Requests are 28 bytes: offset 56 from now is the first magic byte of the third one from now.
ctl("corrupt up 56")
read_ok(10, 65536)
read_ok(11, 69632)
c.request(CMD["READ"], 0, 4096, cookie=12)
if not c.closed_by_server():
    fail("tandemd kept the connection after a corrupted request magic")
# Downstream: a simple reply has a 16-byte header, so offset 116 is data byte 100.
c = RawTCP(PORT)
c.greeting()
c.go("v", structured=False)
ctl("corrupt down 116")
c.request(CMD["READ"], 1 << 20, 4096, cookie=1)
cookie, err, data = c.response(4096)
want = bytearray(EXPECT[1 << 20:(1 << 20) + 4096])
want[100] ^= 1
if (cookie, err) != (1, 0) or data != bytes(want):
    fail("downstream corruption did not flip exactly bit 0 of data byte 100")
c.request(CMD["READ"], 1 << 20, 4096, cookie=2)
if c.response(4096) != (2, 0, EXPECT[1 << 20:(1 << 20) + 4096]):
    fail("corruption applied more than once")
c.request(CMD["DISC"])
print("# upstream magic corrupted: connection closed; downstream byte 100 flipped once")
EOF
grep -q "bad request magic 0x24609513" "$T/n1.log" || fail "tandemd did not log the corrupted magic"
assert_eq $((c0 + 2)) "$(fp_stat p corrupted)" "corrupted count"

# ---- blackhole: no answer and no reset; off again, new connections work ----
log "blackhole"
$PY - <<'EOF'
import socket
from fpt import *
from nbdraw import CMD
c = RawTCP(PORT)
c.greeting()
c.go("v", structured=False)
ctl("blackhole on")
c.request(CMD["READ"], 0, 4096, cookie=1)
c.s.settimeout(1.5)
try:
    got = c.s.recv(1)
    fail("blackholed request got %r" % got)
except socket.timeout:
    pass
print("# blackholed request: no answer and no reset within 1.5 s")
EOF
if timeout 2 nbdinfo --size "$VIA" >/dev/null 2>&1; then
    fail "a new client got through the blackhole"
fi
fp p "blackhole off" >/dev/null
assert_eq 33554432 "$(nbdinfo --size "$VIA")" "size through the proxy after blackhole off"

# ---- refuse: connections reset at once; off again, they work ----
log "refuse"
fp p "refuse on" >/dev/null
r0=$(fp_stat p refused)
if timeout 10 nbdinfo --size "$VIA" >/dev/null 2>&1; then fail "nbdinfo got through refuse on"; fi
[ "$(fp_stat p refused)" -gt "$r0" ] || fail "refused connection not counted"
fp p "refuse off" >/dev/null
qemu-io -f raw "$VIA" -c "read -P 0 0 0" >/dev/null || fail "qemu-io after refuse off"

# ---- fault-rate 1: every chunk faults, so a client fails within a bounded time ----
log "fault-rate"
s0=$(fp_stat p resets)
fp p "fault-rate 1" >/dev/null
if timeout 20 nbdinfo --size "$VIA" >/dev/null 2>&1; then fail "nbdinfo survived fault-rate 1"; fi
[ "$(fp_stat p resets)" -gt "$s0" ] || fail "no reset under fault-rate 1"
grep -q "fault-rate: reset" "$T/p.log" || fail "proxy did not log a fault-rate reset"
fp p "fault-rate 0" >/dev/null
assert_eq 33554432 "$(nbdinfo --size "$VIA")" "size through the proxy after fault-rate 0"

# ---- bad control commands are answered "err" and change nothing ----
for bad in "delay -1" "delay 1x" "stall maybe" "corrupt sideways 3" "fault-rate 1.5" "nonsense"; do
    out=$("$FAULT_PROXY" ctl "$T/p.ctl" "$bad") && fail "'$bad' accepted: $out"
    assert_contains "$out" "err " "answer to '$bad'"
done
assert_eq 33554432 "$(nbdinfo --size "$VIA")" "size through the proxy after bad commands"

# ---- the volume is what the model says, and both processes exit cleanly ----
fp_stop p
nbdcopy "$DIRECT" "$T/final.img"
cmp "$T/expect.img" "$T/final.img" || fail "volume differs from the model after the faults"
stop_daemon n1
