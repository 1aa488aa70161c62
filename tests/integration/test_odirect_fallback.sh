#!/usr/bin/env bash
# --cache none on a filesystem that refuses O_DIRECT (ramfs): the volume falls back to the page
# cache with a log line, says so in its status, and still returns the right bytes.
. "$(dirname "$0")/../lib/common.sh"
mkdir -p "$T/ramfs"
mount -t ramfs ramfs "$T/ramfs" || { echo "cannot mount ramfs here"; exit 77; }
on_exit "umount -l $T/ramfs" # lazy: the daemon on it is killed after the hooks run
"$TANDEMD" --data-dir "$T/ramfs/n1" --node n1 --io-engine "$TANDEM_IO_ENGINE" \
    --control "$T/ctl.sock" --nbd "$T/nbd.sock" >"$T/n1.log" 2>&1 &
n1_PID=$!
_PIDS+=("$n1_PID")
wait_until 20 "tandemd" "$TANDEMCTL" --control "$T/ctl.sock" node status
"$TANDEMCTL" --control "$T/ctl.sock" volume create v --size 16M >/dev/null
assert_eq writeback "$("$TANDEMCTL" --control "$T/ctl.sock" volume status v --json | jq -r .cache)" "cache in effect"
grep -q "filesystem refuses O_DIRECT; using the page cache" "$T/n1.log" || fail "no fallback log line"
U="nbd+unix:///v?socket=$T/nbd.sock"
qemu-io -f raw "$U" -c "write -P 0x3c 100 10000" -c "write -f -P 0x4d 1M 64k" -c flush \
    -c "read -P 0x3c 100 10000" -c "read -P 0x4d 1M 64k" -c "read -P 0 0 100" >/dev/null ||
    fail "data through the page-cache fallback"
kill -TERM "$n1_PID"
wait "$n1_PID" || fail "unclean exit"
