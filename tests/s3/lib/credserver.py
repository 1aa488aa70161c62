#!/usr/bin/python3
"""Loopback stand-ins for the AWS credential endpoints.

--mode imds       IMDSv2: PUT /latest/api/token (TTL header required), then GETs that must carry
                  X-aws-ec2-metadata-token (401 otherwise)
--mode imdsv1     an IMDSv1-only service: the token PUT is refused (403); GETs without a token
                  would be answered (a client that falls back to v1 shows up in the log)
--mode sts        STS AssumeRoleWithWebIdentity (form POST); the WebIdentityToken must equal
                  --expect-token
--mode container  ECS/EKS container credentials; Authorization must equal --expect-token
Each issue hands out --access-key (or AKIDnnnn, numbered) / --secret, session token "tok-n",
expiring --expire-s seconds from now. Every request is logged to --log.
"""
import argparse
import datetime
import json
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--mode", required=True, choices=["imds", "imdsv1", "sts", "container"])
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--access-key", default=None)
ap.add_argument("--secret", default="stand-in-secret-value")
ap.add_argument("--expire-s", type=int, default=3600)
ap.add_argument("--expect-token", default=None)
ap.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/tandem")
args = ap.parse_args()
lock = threading.Lock()
state = {"issued": 0, "imds_token": "imds-session-7f3a"}
logf = open(args.log, "a", buffering=1)
ROLE = "tandem-role"


def issue():
    with lock:
        state["issued"] += 1
        n = state["issued"]
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=args.expire_s)
    return {
        "AccessKeyId": args.access_key or f"AKID{n:04d}",
        "SecretAccessKey": args.secret,
        "Token": f"tok-{n}",
        "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="application/json"):
        b = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def log(self, extra=""):
        tok = "yes" if self.headers.get("X-aws-ec2-metadata-token") else "no"
        logf.write(f"{self.command} {self.path} token={tok} {extra}\n")

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.log(f"ttl={self.headers.get('X-aws-ec2-metadata-token-ttl-seconds')}")
        if self.path != "/latest/api/token" or args.mode != "imds":
            return self.reply(403, "IMDSv2 not available", "text/plain")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "missing TTL", "text/plain")
        self.reply(200, state["imds_token"], "text/plain")

    def do_GET(self):
        self.log(f"auth={'yes' if self.headers.get('Authorization') else 'no'}")
        if args.mode in ("imds", "imdsv1"):
            if args.mode == "imds" and self.headers.get(
                    "X-aws-ec2-metadata-token") != state["imds_token"]:
                return self.reply(401, "", "text/plain")
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                return self.reply(200, ROLE, "text/plain")
            if self.path == base + ROLE:
                c = issue()
                c.update({"Code": "Success", "Type": "AWS-HMAC"})
                return self.reply(200, json.dumps(c))
            return self.reply(404, "", "text/plain")
        if args.mode == "container":
            if self.headers.get("Authorization") != args.expect_token:
                return self.reply(401, json.dumps({"message": "bad token"}))
            return self.reply(200, json.dumps(issue()))
        self.reply(404, "")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        get = lambda k: (form.get(k) or [""])[0]  # noqa: E731
        self.log(f"action={get('Action')}")
        if args.mode != "sts" or get("Action") != "AssumeRoleWithWebIdentity":
            return self.reply(400, "", "text/xml")
        if get("WebIdentityToken") != args.expect_token or get("RoleArn") != args.role_arn:
            err = ("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                   "<Message>token rejected</Message></Error><RequestId>sts-1</RequestId>"
                   "</ErrorResponse>")
            return self.reply(400, err, "text/xml")
        c = issue()
        doc = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/"
               "2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials>"
               f"<AccessKeyId>{c['AccessKeyId']}</AccessKeyId>"
               f"<SecretAccessKey>{c['SecretAccessKey']}</SecretAccessKey>"
               f"<SessionToken>{c['Token']}</SessionToken>"
               f"<Expiration>{c['Expiration']}</Expiration>"
               "</Credentials></AssumeRoleWithWebIdentityResult>"
               "<ResponseMetadata><RequestId>sts-2</RequestId></ResponseMetadata>"
               "</AssumeRoleWithWebIdentityResponse>")
        self.reply(200, doc, "text/xml")


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
