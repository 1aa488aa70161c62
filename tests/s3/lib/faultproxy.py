#!/usr/bin/python3
"""A fault-injecting HTTP reverse proxy for the S3 tests.

Requests whose "METHOD /path?query" matches --match are hit, with probability --rate, by one of
--faults, chosen at random:
  500       HTTP 500 InternalError document        503   HTTP 503 SlowDown document
  reset     read the request, then TCP RST         stall sleep --stall-s, then close
  midreset  forward, send half the answer, then RST
Everything else is forwarded to --upstream unchanged (Host included, so SigV4 still holds).
One log line per request (FAULT <kind> or PASS) goes to --log.
"""
import argparse
import http.client
import random
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import re

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--rate", type=float, default=0.1)
ap.add_argument("--faults", default="500,503,reset,stall,midreset")
ap.add_argument("--match", default=".")
ap.add_argument("--stall-s", type=float, default=3)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--seed", type=int, default=None)
args = ap.parse_args()
rng = random.Random(args.seed)
faults = args.faults.split(",")
match = re.compile(args.match)
uhost, uport = args.upstream.rsplit(":", 1)
lock = threading.Lock()
logf = open(args.log, "a", buffering=1)

ERR = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{msg}</Message>'
       '<RequestId>fault-{n}</RequestId></Error>')
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def log(line):
    with lock:
        logf.write(line + "\n")


def rst(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        what = f"{self.command} {self.path}"
        with lock:
            hit = match.search(what) and rng.random() < args.rate
            kind = rng.choice(faults) if hit else None
        if kind in ("500", "503"):
            log(f"FAULT {kind} {what}")
            code, msg = ("InternalError", "injected") if kind == "500" else (
                "SlowDown", "Please reduce your request rate.")
            doc = ERR.format(code=code, msg=msg, n=rng.randrange(1 << 30)).encode()
            self.send_response(int(kind))
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(doc)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(doc)
            return
        if kind == "reset":
            log(f"FAULT reset {what}")
            self.close_connection = True
            rst(self.connection)
            return
        if kind == "stall":
            log(f"FAULT stall {what}")
            time.sleep(args.stall_s)
            self.close_connection = True
            rst(self.connection)
            return
        up = http.client.HTTPConnection(uhost, int(uport), timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        up.request(self.command, self.path, body=body if n or self.command in ("PUT", "POST")
                   else None, headers=hdrs)
        resp = up.getresponse()
        data = resp.read()
        up.close()
        if kind == "midreset" and len(data) > 1:
            log(f"FAULT midreset {what}")
        else:
            log(f"PASS {resp.status} {what}")
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if kind == "midreset" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            rst(self.connection)
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402

os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
