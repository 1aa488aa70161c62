#!/usr/bin/python3
"""Rewrites fields of a Tandem superblock (docs/on-disk-format.md) and fixes its CRC32C, so a
test can present tandemd with a well-formed superblock that says something else (a future
format version, another UUID) rather than a merely corrupt one.
  superblock_edit.py FILE version N        superblock_edit.py FILE flip-uuid"""
import struct
import sys


def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF


path, what = sys.argv[1], sys.argv[2]
b = bytearray(open(path, "rb").read())
if what == "version":
    b[8:12] = struct.pack("<I", int(sys.argv[3]))
elif what == "flip-uuid":
    b[16] ^= 0xFF
else:
    sys.exit("unknown edit " + what)
b[4092:4096] = struct.pack("<I", crc32c(bytes(b[:4092])))
open(path, "wb").write(b)
