#!/usr/bin/python3
"""Writes distinct 4 KiB blocks through an NBD export at queue depth 16, each block holding its
own offset and a tag, and records every write the server acknowledged (fsynced log, one offset
per line) until the connection dies. `verify` then reads every acknowledged block from another
export and fails on any that does not hold exactly what was acknowledged.
  ack_tracker.py write SOCK EXPORT BLOCKS LOG      ack_tracker.py verify SOCK EXPORT LOG"""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nbdraw import CMD, Closed, Raw  # noqa: E402

BS = 4096


def block(off):
    head = struct.pack(">Q", off) + b"tandem-ack-tracker"
    return (head * (BS // len(head) + 1))[:BS]


def write(sock, export, nblocks, logpath):
    c = Raw(sock, timeout=30)
    c.greeting()
    c.go(export, structured=False)
    order = list(range(nblocks))
    random.Random(1234).shuffle(order)
    log = open(logpath, "w")
    inflight = {}
    it = iter(order)
    acked = 0
    try:
        while True:
            while len(inflight) < 16:
                b = next(it, None)
                if b is None:
                    break
                cookie = b + 1
                c.request(CMD["WRITE"], b * BS, BS, cookie=cookie, payload=block(b * BS))
                inflight[cookie] = b
            if not inflight:
                break
            cookie, err, _ = c.response()
            b = inflight.pop(cookie)
            if err == 0:
                log.write("%d\n" % (b * BS))
                log.flush()
                os.fsync(log.fileno())
                acked += 1
    except (Closed, OSError, struct.error):
        pass
    print("acknowledged %d writes, %d were in flight" % (acked, len(inflight)))


def verify(sock, export, logpath):
    c = Raw(sock, timeout=30)
    c.greeting()
    c.go(export, structured=False)
    offs = [int(x) for x in open(logpath)]
    bad = []
    for off in offs:
        c.request(CMD["READ"], off, BS, cookie=off + 1)
        _, err, data = c.response(BS)
        if err or data != block(off):
            bad.append(off)
    print("verified %d acknowledged writes, %d lost" % (len(offs), len(bad)))
    if bad:
        print("lost offsets:", bad[:20])
        sys.exit(1)
    if len(offs) < 500:
        print("too few acknowledged writes to mean anything")
        sys.exit(1)


if sys.argv[1] == "write":
    write(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
else:
    verify(sys.argv[2], sys.argv[3], sys.argv[4])
