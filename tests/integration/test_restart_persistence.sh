#!/usr/bin/env bash
# Volumes and their bytes survive a clean restart and a kill -9 after FLUSH; a second daemon on
# the same data directory is refused.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create keep --size 32M >/dev/null
ctl n1 volume create other --size 8M >/dev/null
rand_file "$T/a.img" 32
nbdcopy "$T/a.img" "$(nbd_uri n1 keep)"
uuid=$(ctl n1 volume status keep --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')

# a second daemon on the same directory must not start
if "$TANDEMD" --data-dir "$T/n1" --node again --nbd "$T/x.sock" --control "$T/y.sock" >"$T/second.log" 2>&1; then
    fail "a second tandemd started on a locked data directory"
fi
grep -q "in use by another tandemd" "$T/second.log" || fail "no clear error: $(cat "$T/second.log")"

stop_daemon n1
start_daemon n1
assert_eq "$uuid" "$(ctl n1 volume status keep --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')" "uuid after restart"
assert_eq "keep other" "$(ctl n1 volume list --json | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(v["name"] for v in json.load(sys.stdin))))')" "volumes after restart"
nbdcopy "$(nbd_uri n1 keep)" "$T/b.img"
cmp "$T/a.img" "$T/b.img" || fail "data changed across a clean restart"

# kill -9 right after a flushed write: the write must be there
qemu-io -f raw "$(nbd_uri n1 keep)" -c "write -P 0x77 5M 1M" -c flush >/dev/null
kill -9 "$n1_PID"
wait "$n1_PID" 2>/dev/null || true
start_daemon n1
qemu-io -f raw "$(nbd_uri n1 keep)" -c "read -P 0x77 5M 1M" >/dev/null || fail "flushed write lost by kill -9"
stop_daemon n1
