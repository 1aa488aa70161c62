#!/usr/bin/env bash
# Driver for malformed_input.py (raw-socket protocol abuse); also checks the daemon logged
# each refusal and is still healthy afterwards.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1 --nbd-handshake-timeout 1
ctl n1 volume create v --size 16M >/dev/null
/usr/bin/python3 "$(dirname "$0")/malformed_input.py" "$T"
grep -q "handshake not completed in time" "$T/n1.log" || fail "no log line for the handshake timeout"
grep -q "bad option magic" "$T/n1.log" || fail "no log line for a bad option magic"
grep -q "refusing unknown (type 42)" "$T/n1.log" || fail "no log line for an unknown command"
grep -q "client vanished in the middle of a request" "$T/n1.log" || fail "no log line for a vanished client"
qemu-io -f raw "$(nbd_uri n1 v)" -c "read -P 0x59 0 4k" >/dev/null || fail "daemon unhealthy after abuse"
stop_daemon n1
