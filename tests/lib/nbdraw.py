"""A raw NBD client for tests: speaks the wire protocol byte by byte, so tests can send what
no well-behaved client would (bad magic, unknown flags, truncated payloads)."""
import socket
import struct

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668E33EF
OPT = dict(EXPORT_NAME=1, ABORT=2, LIST=3, STARTTLS=5, INFO=6, GO=7, STRUCTURED_REPLY=8,
           LIST_META_CONTEXT=9, SET_META_CONTEXT=10)
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR_UNSUP, ERR_INVALID, ERR_UNKNOWN = (1 << 31) | 1, (1 << 31) | 3, (1 << 31) | 6
CMD = dict(READ=0, WRITE=1, DISC=2, FLUSH=3, TRIM=4, CACHE=5, WRITE_ZEROES=6, BLOCK_STATUS=7)
EINVAL, ENOSPC, EOVERFLOW = 22, 28, 75


class Closed(Exception):
    pass


class Raw:
    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)

    def recv(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise Closed("server closed after %d of %d bytes" % (len(b), n))
            b += chunk
        return b

    def closed_by_server(self):
        """True if the server closes the connection (EOF) within the timeout."""
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def greeting(self, client_flags=3):
        magic, opt, flags = struct.unpack(">QQH", self.recv(18))
        assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
        self.s.sendall(struct.pack(">I", client_flags))
        return flags

    def option(self, opt, data=b""):
        self.s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

    def reply(self):
        magic, opt, typ, ln = struct.unpack(">QIII", self.recv(20))
        assert magic == REPMAGIC, "bad option reply magic %x" % magic
        return opt, typ, self.recv(ln)

    def go(self, name, structured=True, meta=False):
        if structured:
            self.option(OPT["STRUCTURED_REPLY"])
            assert self.reply()[1] == REP_ACK
        if meta:
            nb = name.encode()
            q = b"base:allocation"
            self.option(OPT["SET_META_CONTEXT"], struct.pack(">I", len(nb)) + nb +
                        struct.pack(">II", 1, len(q)) + q)
            while self.reply()[1] != REP_ACK:
                pass
        nb = name.encode()
        self.option(OPT["GO"], struct.pack(">I", len(nb)) + nb + struct.pack(">H", 0))
        size = None
        while True:
            _, typ, data = self.reply()
            if typ == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
                size = struct.unpack(">Q", data[2:10])[0]
            elif typ == REP_ACK:
                break
            elif typ & (1 << 31):
                raise RuntimeError("GO refused: %x %r" % (typ, data))
        self.structured = structured
        return size

    def request(self, cmd, offset=0, length=0, flags=0, cookie=1, payload=b""):
        self.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, cookie, offset, length)
                       + payload)

    def response(self, read_len=0):
        """Returns (cookie, error, data) for one reply (simple, or a single DONE chunk).
        read_len: data bytes a successful simple reply carries, or a dict cookie -> bytes."""
        magic = struct.unpack(">I", self.recv(4))[0]
        if magic == SIMPLE_MAGIC:
            err, cookie = struct.unpack(">IQ", self.recv(12))
            if isinstance(read_len, dict):
                read_len = read_len.get(cookie, 0)
            data = self.recv(read_len) if (err == 0 and read_len) else b""
            return cookie, err, data
        assert magic == STRUCT_MAGIC, "bad reply magic %x" % magic
        flags, typ, cookie, ln = struct.unpack(">HHQI", self.recv(16))
        body = self.recv(ln)
        if typ == 1:  # OFFSET_DATA
            return cookie, 0, body[8:]
        if typ & (1 << 15):
            err, ml = struct.unpack(">IH", body[:6])
            return cookie, err, body[6:6 + ml]
        return cookie, 0, body
