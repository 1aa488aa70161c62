#!/usr/bin/python3
"""Malformed handshakes and requests from a raw socket: each gets the protocol's error or a clean
disconnect, the daemon keeps serving other clients, and acknowledged data is never lost."""
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import nbdraw  # noqa: E402
from nbdraw import CMD, OPT, Raw  # noqa: E402

T = sys.argv[1]
SOCK = os.path.join(T, "n1", "nbd.sock")
SIZE = 16 << 20
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    checks += 1


# --- handshake ---
idle = Raw(SOCK, timeout=5)  # connects and says nothing: dropped after the 1 s timeout
idle.recv(18)
check(idle.closed_by_server(), "silent client dropped by the handshake timeout")

c = Raw(SOCK)
c.recv(18)
c.s.sendall(b"GARBAGE!GARBAGE!GARBAGE!")  # client flags without FIXED_NEWSTYLE, then junk
check(c.closed_by_server(), "garbage client flags: disconnect")

c = Raw(SOCK)
c.greeting(client_flags=1 | 0x80)
check(c.closed_by_server(), "unknown client flag: disconnect")

c = Raw(SOCK)
c.greeting()
c.s.sendall(struct.pack(">QII", 0x1122334455667788, 7, 0))
check(c.closed_by_server(), "bad option magic: disconnect")

c = Raw(SOCK)
c.greeting()
c.s.sendall(struct.pack(">QII", nbdraw.IHAVEOPT, 7, 1 << 30))
check(c.closed_by_server(), "1 GiB option payload: disconnect")

c = Raw(SOCK)
c.greeting()
c.option(99, b"xyz")
_, typ, msg = c.reply()
check(typ == nbdraw.ERR_UNSUP, "unknown option: ERR_UNSUP")
c.option(OPT["STARTTLS"])
check(c.reply()[1] == nbdraw.ERR_UNSUP, "STARTTLS: ERR_UNSUP")
c.option(OPT["LIST"], b"x")
check(c.reply()[1] == nbdraw.ERR_INVALID, "LIST with payload: ERR_INVALID")
c.option(OPT["GO"], b"\x00\x00\x00\x50ab")  # name length past the payload
check(c.reply()[1] == nbdraw.ERR_INVALID, "GO with bad name length: ERR_INVALID")
c.option(OPT["GO"], struct.pack(">I", 6) + b"nosuch" + struct.pack(">H", 0))
_, typ, msg = c.reply()
check(typ == nbdraw.ERR_UNKNOWN and b'no volume named "nosuch"' in msg,
      "GO unknown export: ERR_UNKNOWN naming it (%r)" % msg)
c.option(OPT["SET_META_CONTEXT"], struct.pack(">I", 1) + b"v" + struct.pack(">I", 0))
check(c.reply()[1] == nbdraw.ERR_INVALID, "SET_META_CONTEXT before STRUCTURED_REPLY")
c.option(OPT["LIST"])
names = []
while True:
    _, typ, data = c.reply()
    if typ == nbdraw.REP_ACK:
        break
    names.append(data[4:].decode())
check(names == ["v"], "LIST still works after errors: %r" % names)
size = c.go("v", structured=False)
check(size == SIZE, "GO after errors gives the size")

# --- transmission, simple replies ---
c.request(CMD["WRITE"], 0, 4096, cookie=10, payload=b"A" * 4096)
check(c.response() == (10, 0, b""), "write ok")
c.request(CMD["READ"], 0, 4096, cookie=11)
check(c.response(4096) == (11, 0, b"A" * 4096), "read back")
c.request(42, 0, 4096, cookie=12)
check(c.response()[:2] == (12, nbdraw.EINVAL), "unknown command: EINVAL")
c.request(CMD["READ"], 0, 4096, flags=0x40, cookie=13)
check(c.response()[:2] == (13, nbdraw.EINVAL), "unknown flag: EINVAL")
c.request(CMD["READ"], SIZE - 512, 4096, cookie=14)
check(c.response()[:2] == (14, nbdraw.EINVAL), "read past end: EINVAL")
c.request(CMD["WRITE"], SIZE, 8192, cookie=15, payload=b"B" * 8192)  # payload must be skipped
check(c.response()[:2] == (15, nbdraw.ENOSPC), "write past end: ENOSPC")
c.request(CMD["READ"], 0, 64 << 20, cookie=16)
check(c.response()[:2] == (16, nbdraw.EOVERFLOW), "oversized read: EOVERFLOW")
c.request(CMD["WRITE"], 0, 48 << 20, cookie=17, payload=b"C" * (48 << 20))
check(c.response()[:2] == (17, nbdraw.EINVAL), "oversized write: EINVAL, payload skipped")
c.request(CMD["READ"], 0, 0, cookie=18)
check(c.response()[:2] == (18, nbdraw.EINVAL), "zero-length read: EINVAL")
c.request(CMD["BLOCK_STATUS"], 0, 4096, cookie=19)
check(c.response()[:2] == (19, nbdraw.EINVAL), "BLOCK_STATUS without meta context: EINVAL")
c.request(CMD["READ"], 0, 4096, cookie=20)
check(c.response(4096) == (20, 0, b"A" * 4096), "connection still in sync after errors")

# pipelined: many requests, then all replies (any order)
for i in range(100):
    c.request(CMD["WRITE"], 4096 * (i + 1), 4096, cookie=1000 + i,
              payload=bytes([i]) * 4096)
got = {c.response()[0] for _ in range(100)}
check(got == set(range(1000, 1100)), "100 pipelined writes all answered")
c.request(CMD["FLUSH"], cookie=21)
check(c.response() == (21, 0, b""), "flush")
c.request(CMD["WRITE"], 0, 4096, cookie=22, payload=b"Z" * 4096)
c.request(CMD["WRITE"], 0, 4096, cookie=23, payload=b"Y" * 4096)  # overlapping: order kept
c.request(CMD["READ"], 0, 4096, cookie=24)
r = {c.response({24: 4096})[0] for _ in range(3)}
check(r == {22, 23, 24}, "overlapping writes and the read all answered")
# the read may be answered before the writes; read again after both are acknowledged
c.request(CMD["READ"], 0, 4096, cookie=25)
check(c.response(4096) == (25, 0, b"Y" * 4096), "overlapping writes applied in order")

# bad request magic: disconnect
c.s.sendall(b"\xde\xad\xbe\xef" + b"\x00" * 24)
check(c.closed_by_server(), "bad request magic: disconnect")

# --- structured replies: errors carry messages; block status ---
c = Raw(SOCK)
c.greeting()
c.go("v", structured=True, meta=True)
c.request(CMD["READ"], SIZE, 512, cookie=30)
cookie, err, msg = c.response()
check((cookie, err) == (30, nbdraw.EINVAL) and b"past the end" in msg,
      "structured error chunk with a message: %r" % msg)
c.request(CMD["BLOCK_STATUS"], 0, SIZE, cookie=31)
cookie, err, body = c.response()
ctx_id, = struct.unpack(">I", body[:4])
ext = [struct.unpack(">II", body[4 + 8 * i:12 + 8 * i]) for i in range((len(body) - 4) // 8)]
check(err == 0 and ext[0][1] == 0 and sum(e[0] for e in ext) == SIZE,
      "block status: data first, extents cover the volume: %r" % ext[:4])
c.request(CMD["BLOCK_STATUS"], 0, SIZE, flags=8, cookie=32)  # REQ_ONE
check(len(c.response()[2]) == 12, "REQ_ONE: exactly one extent")

# --- a client vanishing mid-write: nothing half-written, others unaffected ---
other = Raw(SOCK)
other.greeting()
other.go("v", structured=False)
c.request(CMD["WRITE"], 8 << 20, 1 << 20, cookie=40, payload=b"Q" * 1000)  # 1000 of 1 MiB
c.s.close()
other.request(CMD["READ"], 8 << 20, 4096, cookie=41)
check(other.response(4096) == (41, 0, b"\0" * 4096), "partial write never applied")
other.request(CMD["READ"], 4096 * 50, 4096, cookie=42)
check(other.response(4096) == (42, 0, bytes([49]) * 4096), "acknowledged data intact")
other.request(CMD["DISC"])
check(other.closed_by_server(), "DISC closes")
print("ok: %d checks" % checks)
