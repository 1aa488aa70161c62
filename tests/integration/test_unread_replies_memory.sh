#!/usr/bin/env bash
# A client that pipelines thousands of 1 MiB READs and reads no reply must not make the daemon
# buffer them all: a connection holds a bounded number of requests (from parse until the reply
# is written) and a bounded number of buffer bytes, then stops reading its socket. Every reply
# still arrives, in order, with the right data, once the client reads.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 64M >/dev/null
U=$(nbd_uri n1 v)
cmds=()
for k in $(seq 0 63); do cmds+=(-c "write -P $((k + 1)) ${k}M 1M"); done
qemu-io -f raw "$U" "${cmds[@]}" >/dev/null || fail "filling the volume"
grown=$(/usr/bin/python3 "$(dirname "$0")/unread_replies.py" "$T/n1/nbd.sock" "$n1_PID" 1500 64) ||
    fail "replies were not all delivered correctly"
log "resident memory grew by ${grown} MiB with 1500 x 1 MiB reads unanswered"
# 128 MiB of request buffers, the pool's spares and the sanitizer's quarantine; without the
# bound it was the whole 1.5 GiB.
[ "$grown" -lt 450 ] || fail "daemon resident memory grew by ${grown} MiB"
stop_daemon n1
