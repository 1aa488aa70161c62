#!/usr/bin/python3
"""waitport.py URL TIMEOUT [any]: polls an HTTP URL until it answers 200 (with "any": any HTTP
status, for servers without /healthcheck), or fails after TIMEOUT s."""
import sys
import time
import urllib.error
import urllib.request

url, timeout = sys.argv[1], float(sys.argv[2])
any_status = len(sys.argv) > 3 and sys.argv[3] == "any"
deadline = time.monotonic() + timeout
last = None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except urllib.error.HTTPError as e:
        if any_status:
            sys.exit(0)
        last = e
    except Exception as e:  # not up yet
        last = e
    time.sleep(0.1)
print(f"waitport: {url} not answering after {timeout}s: {last}", file=sys.stderr)
sys.exit(1)
