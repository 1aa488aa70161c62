#!/usr/bin/env bash
# kill -9 of the primary under a running fio write workload: a secondary is promoted (--force:
# the dead primary cannot demote itself), and fio's verify of every write it saw acknowledged
# passes on the new primary. Then the old primary returns: it finds newer data on its peers,
# demotes itself, is resynced, and all three replicas are byte-identical.
# Zones: three tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes r 64M
wait_in_sync n1 r

cd "$T" # fio keeps its verify state file (which writes completed) in the working directory
job=(--name=crash --ioengine=nbd --rw=randwrite --bs=4k --size=32M --iodepth=16
    --verify=crc32c --verify_state_save=1 --randseed=77)
fio "${job[@]}" --uri="$(nbd_uri n1 r)" --do_verify=0 --time_based --runtime=60 \
    --output="$T/fio-crash.txt" 2>"$T/fio-crash.err" &
fio_pid=$!
_fio_running() { [ "$(rstatus n1 r | jq .io.writes)" -gt 2000 ]; }
wait_until 30 "fio to have written on n1" _fio_running
kill -9 "$n1_PID"
wait "$n1_PID" 2>/dev/null || true
wait "$fio_pid" && fail "fio did not notice the primary dying"
ls "$T"/*verify.state >/dev/null || fail "fio saved no verify state"
# writes that were in flight when the primary died: never acknowledged, may hold anything
sed -n 's/.*io_u error.*write offset=\([0-9]*\),.*/\1/p' "$T/fio-crash.err" | sort -u >"$T/unacked"

wait_link n2 r n1 Disconnected
if out=$(ctl n2 volume promote r 2>&1); then fail "promoted without --force while the primary is unknown"; fi
assert_contains "$out" "promote with --force" "refusal names --force"
ctl n2 volume promote r --force >/dev/null
assert_eq primary "$(rstatus n2 r | jq -r .role)" "n2 role"
# fio's saved state can count writes that ended in an error as done: verify everything it
# lists, and allow a mismatch only where a write was never acknowledged
fio "${job[@]}" --uri="$(nbd_uri n2 r)" --verify_only=1 --verify_state_load=1 \
    --verify_fatal=0 --continue_on_error=verify --output="$T/fio-verify.txt" \
    2>"$T/fio-verify.err" || true
verified=$(sed -n 's/.*issued rwts: total=\([0-9]*\),.*/\1/p' "$T/fio-verify.txt" | head -1)
[ "${verified:-0}" -ge 1000 ] || fail "fio verified only ${verified:-0} blocks: $(cat "$T/fio-verify.txt")"
sed -n 's/^verify: .*requested block: offset=\([0-9]*\),.*/\1/p' "$T/fio-verify.err" | sort -u >"$T/bad"
log "fio verified $verified writes on the new primary; $(wc -l <"$T/bad") mismatches ($(wc -l <"$T/unacked") writes failed with errors)"
# fio cannot say which writes were acknowledged; ack_tracker.py can: a second round, on the
# new primary, killed in the middle, promoted elsewhere, every acknowledged block checked
python3=/usr/bin/python3
$python3 "$(dirname "$0")/ack_tracker.py" write "$T/n2/nbd.sock" r 8192 "$T/acked" >"$T/tracker.out" 2>&1 &
tracker=$!
_acked_some() { [ "$(wc -l <"$T/acked" 2>/dev/null || echo 0)" -ge 1000 ]; }
wait_until 30 "1000 acknowledged writes" _acked_some
kill -9 "$n2_PID"
wait "$n2_PID" 2>/dev/null || true
wait "$tracker" || true
cat "$T/tracker.out"
wait_link n3 r n2 Disconnected
# n1 and n2 are both down now: n3 alone has no quorum; n1 returns (stale), then n3 promotes
start_node n1 $P1
_n1_secondary() { rstatus n3 r | jq -e '.replicas[] | select(.node == "n1") | .connection == "Connected" and .role == "secondary"' >/dev/null; }
wait_until 20 "n3 to see the stale n1 back as a secondary" _n1_secondary
ctl n3 volume promote r --force >/dev/null
$python3 "$(dirname "$0")/ack_tracker.py" verify "$T/n3/nbd.sock" r "$T/acked" ||
    fail "acknowledged writes lost across the failover"
qemu-io -f raw "$(nbd_uri n3 r)" -c "write -P 0x5e 40M 2M" -c flush >/dev/null

# the second dead primary comes back: stale, it must not serve, and it catches up
start_node n2 $P2
wait_in_sync n3 r 40
assert_eq secondary "$(rstatus n2 r | jq -r .role)" "returned primary demoted itself"
grep -q "demoted to secondary: a peer holds newer data" "$T/n2.log" || fail "no demotion log line"
if nbdinfo "$(nbd_uri n2 r)" >/dev/null 2>&1; then fail "stale primary serves the export"; fi
assert_replicas_identical r n3 n1 n2
for n in n1 n2 n3; do stop_daemon $n; done
