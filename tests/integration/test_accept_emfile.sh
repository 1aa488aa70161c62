#!/usr/bin/env bash
# Out of file descriptors while clients keep connecting: the daemon must neither spin on the
# still-readable listener nor flood the log. It logs once, retries every 100 ms, and serves
# new clients again once descriptors are free.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 16M >/dev/null
qemu-io -f raw "$(nbd_uri n1 v)" -c "write -P 0x17 0 64k" >/dev/null || fail "initial write"
nfd=$(ls /proc/"$n1_PID"/fd | wc -l)
lim=$((nfd + 4)) # room for four connections, then EMFILE
soft=$(prlimit --pid "$n1_PID" --nofile --noheadings --output SOFT)
prlimit --pid "$n1_PID" --nofile=$lim: || fail "prlimit" # the soft limit only: it can go back
on_exit "prlimit --pid $n1_PID --nofile=$soft:"
cpu=$(/usr/bin/python3 "$(dirname "$0")/fd_exhaustion.py" "$T/n1/nbd.sock" "$n1_PID" 20 2)
n=$(grep -c "accept: Too many open files" "$T/n1.log" || true)
log "limit $lim descriptors: daemon used ${cpu}s of CPU in 2 s; $n accept log lines"
[ "$n" -ge 1 ] || fail "descriptor exhaustion was not logged"
[ "$n" -le 3 ] || fail "$n accept log lines: the log is flooded"
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$cpu') < 0.5 else 1)" ||
    fail "daemon used ${cpu}s of CPU in 2 s while out of descriptors"
# the clients are gone: new ones are served again (the limit stays as it was)
wait_until 5 "a client to be served again" \
    qemu-io -f raw "$(nbd_uri n1 v)" -c "read -P 0x17 0 64k"
grep -q "accepting connections again" "$T/n1.log" || fail "no log line for the recovery"
prlimit --pid "$n1_PID" --nofile="$soft":
stop_daemon n1
