#!/usr/bin/python3
"""A TLS-terminating TCP forwarder for the S3 tests.

Listens on 127.0.0.1 (and [::1] on the same port when it can, since "localhost" may resolve to
either), completes a TLS handshake with --cert/--key, then forwards the decrypted bytes both ways
to --upstream (plain TCP, e.g. Swift's proxy port). Bytes are not parsed or changed, so the Host
header and the SigV4 signature reach Swift as the client sent them.

One log line per connection goes to --log:
  CONN <n> <peer>              accepted
  TLS <n> <version> <sni>      handshake done
  TLSFAIL <n> <reason>         handshake failed (e.g. the client rejected our certificate)
  DONE <n> <up-bytes> <down-bytes>
"""
import argparse
import os
import select
import socket
import ssl
import threading

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()
uhost, uport = args.upstream.rsplit(":", 1)
uport = int(uport)
lock = threading.Lock()
logf = open(args.log, "a", buffering=1)
counter = [0]

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(args.cert, args.key)
sni_seen = {}


def on_sni(sock, name, _ctx):
    sni_seen[id(sock)] = name or "-"


ctx.sni_callback = on_sni


def log(line):
    with lock:
        logf.write(line + "\n")


def pump(n, raw, peer):
    up_bytes = down_bytes = 0
    raw.settimeout(10)  # a handshake that never completes does not hold a thread forever
    try:
        tls = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as e:
        log(f"TLSFAIL {n} {getattr(e, 'reason', None) or e}")
        raw.close()
        return
    log(f"TLS {n} {tls.version()} {sni_seen.pop(id(tls), '-')}")
    try:
        up = socket.create_connection((uhost, uport), timeout=10)
    except OSError as e:
        log(f"UPFAIL {n} {e}")
        tls.close()
        return
    # One thread per connection, select() over both sides: an SSL object is never read and
    # written from two threads at once.
    tls.settimeout(None)
    up.settimeout(None)
    try:
        while True:
            if tls.pending():
                r = [tls]
            else:
                r, _, _ = select.select([tls, up], [], [], 60)
                if not r:
                    break
            if tls in r:
                data = tls.recv(256 * 1024)
                if not data:
                    break
                up.sendall(data)
                up_bytes += len(data)
            if up in r:
                data = up.recv(256 * 1024)
                if not data:
                    break
                tls.sendall(data)
                down_bytes += len(data)
    except (ssl.SSLError, OSError):
        pass
    finally:
        log(f"DONE {n} {up_bytes} {down_bytes}")
        for s in (up, tls):
            try:
                s.close()
            except OSError:
                pass


def serve(ls):
    while True:
        raw, peer = ls.accept()
        with lock:
            counter[0] += 1
            n = counter[0]
        log(f"CONN {n} {peer[0]}")
        threading.Thread(target=pump, args=(n, raw, peer), daemon=True).start()


ls4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls4.bind(("127.0.0.1", 0))
ls4.listen(64)
port = ls4.getsockname()[1]
listeners = [ls4]
try:
    ls6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls6.bind(("::1", port))
    ls6.listen(64)
    listeners.append(ls6)
except OSError:
    pass  # no IPv6 loopback here: clients fall back to 127.0.0.1
for s in listeners[1:]:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(f"{port}\n")
os.rename(tmp, args.port_file)
serve(ls4)
