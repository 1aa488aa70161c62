#!/usr/bin/env bash
# With io_uring blocked by seccomp (as in many container runtimes), --io-engine auto falls back
# to libaio with a log line and serves data correctly; --io-engine io_uring fails clearly.
. "$(dirname "$0")/../lib/common.sh"
NOURING=$TANDEM_BIN/tools/no_io_uring
mkdir -p "$T/n1"
if "$NOURING" "$TANDEMD" --data-dir "$T/n1" --node n1 --io-engine io_uring >"$T/forced.log" 2>&1; then
    fail "tandemd started with io_uring forced but blocked"
fi
grep -q "no usable io engine: io_uring_setup: Operation not permitted" "$T/forced.log" ||
    fail "unclear error: $(cat "$T/forced.log")"
"$NOURING" "$TANDEMD" --data-dir "$T/n1" --node n1 --io-engine auto >"$T/n1.log" 2>&1 &
n1_PID=$!
_PIDS+=("$n1_PID")
wait_until 20 "tandemd under seccomp" "$TANDEMCTL" --control "$T/n1/control.sock" node status
assert_eq aio "$(ctl n1 node status --json | jq -r .io_engine)" "engine in use"
grep -q "io_uring unavailable (io_uring_setup: Operation not permitted.*); falling back to libaio" "$T/n1.log" ||
    fail "no fallback log line"
ctl n1 volume create v --size 32M >/dev/null
fio --name=f --ioengine=nbd --uri="$(nbd_uri n1 v)" --rw=randrw --bs=4k --size=32M --iodepth=16 \
    --verify=crc32c --verify_fatal=1 --do_verify=1 --output="$T/fio.txt" || fail "fio on aio fallback"
qemu-io -f raw "$(nbd_uri n1 v)" -c "write -z 0 1M" -c "discard 1M 1M" -c "read -P 0 0 2M" >/dev/null ||
    fail "zeroing/trim through the aio fallocate helper"
stop_daemon n1
