#!/usr/bin/env bash
# kill -9 of the primary under a running fio write workload: a secondary is promoted (--force:
# the dead primary cannot demote itself), and fio's verify of every write it saw acknowledged
# passes on the new primary. Then the old primary returns: it finds newer data on its peers,
# demotes itself, is resynced, and all three replicas are byte-identical.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
repl_ports
start_node n1 $P1
start_node n2 $P2
start_node n3 $P3
ctl n1 volume create r --size 64M --replica n1@127.0.0.1:$P1 --replica n2@127.0.0.1:$P2 \
    --replica n3@127.0.0.1:$P3 >/dev/null
wait_in_sync n1 r

cd "$T" # fio keeps its verify state file (which writes completed) in the working directory
job=(--name=crash --ioengine=nbd --rw=randwrite --bs=4k --size=32M --iodepth=16
    --verify=crc32c --verify_state_save=1 --randseed=77)
fio "${job[@]}" --uri="$(nbd_uri n1 r)" --do_verify=0 --time_based --runtime=60 \
    --output="$T/fio-crash.txt" &
fio_pid=$!
_fio_running() { grep -q '"clients": *1\|"clients":1' <(rstatus n1 r) && [ "$(rstatus n1 r | jq .io.writes)" -gt 2000 ]; }
wait_until 30 "fio to have written on n1" _fio_running
kill -9 "$n1_PID"
wait "$n1_PID" 2>/dev/null || true
wait "$fio_pid" && fail "fio did not notice the primary dying"
ls "$T"/*verify.state >/dev/null || fail "fio saved no verify state"

wait_link n2 r n1 Disconnected
if out=$(ctl n2 volume promote r 2>&1); then fail "promoted without --force while the primary is unknown"; fi
assert_contains "$out" "promote with --force" "refusal names --force"
ctl n2 volume promote r --force >/dev/null
assert_eq primary "$(rstatus n2 r | jq -r .role)" "n2 role"
fio "${job[@]}" --uri="$(nbd_uri n2 r)" --verify_only=1 --verify_state_load=1 \
    --output="$T/fio-verify.txt" || fail "acknowledged writes lost: $(tail -20 "$T/fio-verify.txt")"
grep -q "err= 0" "$T/fio-verify.txt" || fail "fio verify reported errors"
verified=$(sed -n 's/.*issued rwts: total=\([0-9]*\),.*/\1/p' "$T/fio-verify.txt" | head -1)
[ "${verified:-0}" -ge 1000 ] || fail "fio verified only ${verified:-0} blocks"
log "fio verified $verified acknowledged 4 KiB writes on the new primary"
qemu-io -f raw "$(nbd_uri n2 r)" -c "write -P 0x5e 40M 2M" -c flush >/dev/null

# the old primary comes back: stale, it must not serve, and it catches up
start_node n1 $P1
wait_in_sync n2 r 40
assert_eq secondary "$(rstatus n1 r | jq -r .role)" "returned primary demoted itself"
grep -q "demoted to secondary: a peer holds newer data" "$T/n1.log" || fail "no demotion log line"
if nbdinfo "$(nbd_uri n1 r)" >/dev/null 2>&1; then fail "stale primary serves the export"; fi
assert_replicas_identical r n2 n1 n3
for n in n1 n2 n3; do stop_daemon $n; done
