#!/usr/bin/env bash
# Snapshots keep a stable image while writes go on: every snapshot, exported while a writer
# keeps overwriting the volume, hashes exactly as the volume did when it was taken. Covers
# aligned, unaligned, TRIM and WRITE_ZEROES overwrites, deleting the oldest, a middle and the
# newest snapshot (their images move into the neighbours), a clean restart and a kill -9.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 64M >/dev/null
U=$(nbd_uri n1 v)

vol_hash() { nbdcopy "$U" "$T/live.img" && sha256sum <"$T/live.img" | cut -d' ' -f1; }
snap_hash() { # snap_hash SNAP: export the snapshot and hash it
    rm -f "$T/exp.img"
    ctl n1 snapshot export v "$1" --to "$T/exp.img" --wait >/dev/null || fail "export of $1 failed"
    sha256sum <"$T/exp.img" | cut -d' ' -f1
}
scribble() { # scribble SEED: overwrites of every kind across the volume
    local s=$1
    qemu-io -f raw "$U" \
        -c "write -P $((s % 250 + 1)) $((s % 7))M 3M" \
        -c "write -P $((s % 200 + 3)) $((s * 4096 % 60000000 / 4096 * 4096)) 4k" \
        -c "write -P $((s % 100 + 7)) $((s * 12345 % 50000000 + 333)) 70000" \
        -c "discard $((20 + s % 5))M 2M" \
        -c "write -z $((30 + s % 3))M 1M" \
        -c "write -P $((s % 90 + 11)) 63M 1M" -c flush >/dev/null || fail "scribble $s failed"
}

writes_over() { # writes_over N: the volume has seen more than N writes
    [ "$(ctl n1 volume status v --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["io"]["writes"])')" -gt "$1" ]
}

rand_file "$T/a.img" 64
nbdcopy "$T/a.img" "$U"
declare -A H
H[s1]=$(vol_hash)
out=$(ctl n1 snapshot create v s1)
assert_contains "$out" "snapshot s1 of v taken (seq 1)" "create output"
scribble 1
[ "$(vol_hash)" != "${H[s1]}" ] || fail "the writes did not change the volume"
assert_eq "${H[s1]}" "$(snap_hash s1)" "s1 after overwrites"

# a name in use, a bad name, an unknown snapshot
ctl n1 snapshot create v s1 2>"$T/err" && fail "a duplicate snapshot name was accepted"
assert_contains "$(cat "$T/err")" "exists" "duplicate name error"
ctl n1 snapshot create v "../x" 2>"$T/err" && fail "a bad snapshot name was accepted"
assert_contains "$(cat "$T/err")" "invalid snapshot name" "bad name error"
ctl n1 snapshot delete v nope 2>"$T/err" && fail "deleting an unknown snapshot succeeded"
assert_contains "$(cat "$T/err")" "no snapshot named nope" "unknown snapshot error"

for s in s2 s3 s4; do
    H[$s]=$(vol_hash)
    ctl n1 snapshot create v $s >/dev/null
    scribble "${#H[@]}$RANDOM"
done
assert_eq "s1 s2 s3 s4" "$(ctl n1 snapshot list v --json | /usr/bin/python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)))')" "list"
for s in s1 s2 s3 s4; do assert_eq "${H[$s]}" "$(snap_hash $s)" "$s with four snapshots"; done

# export while a writer keeps overwriting the volume
fio --name=w --ioengine=nbd --uri="$U" --rw=randwrite --bs=4k --iodepth=8 --size=64M \
    --time_based --runtime=30 --output="$T/fio.out" >/dev/null 2>&1 &
FIO=$!
on_exit "kill $FIO 2>/dev/null"
base=$(ctl n1 volume status v --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["io"]["writes"])')
wait_until 10 "fio started writing" writes_over $((base + 200))
assert_eq "${H[s3]}" "$(snap_hash s3)" "s3 exported under concurrent writes"
assert_eq "${H[s1]}" "$(snap_hash s1)" "s1 exported under concurrent writes"
kill $FIO; wait $FIO 2>/dev/null || true

# delete a middle one, the oldest, the newest: the others keep their images
ctl n1 snapshot delete v s2 >/dev/null
for s in s1 s3 s4; do assert_eq "${H[$s]}" "$(snap_hash $s)" "$s after deleting s2"; done
ctl n1 snapshot delete v s1 >/dev/null
for s in s3 s4; do assert_eq "${H[$s]}" "$(snap_hash $s)" "$s after deleting s1"; done
ctl n1 snapshot delete v s4 >/dev/null
scribble 77
assert_eq "${H[s3]}" "$(snap_hash s3)" "s3 after deleting the newest and writing"
assert_eq "s3" "$(ctl n1 snapshot list v --json | /usr/bin/python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)))')" "list after deletes"

# restart, then kill -9 in the middle of writes: the snapshot images survive both
stop_daemon n1
start_daemon n1
assert_eq "${H[s3]}" "$(snap_hash s3)" "s3 after a restart"
H[s5]=$(vol_hash)
out=$(ctl n1 snapshot create v s5)
assert_contains "$out" "(seq 5)" "sequence numbers continue after deletes and a restart"
fio --name=w --ioengine=nbd --uri="$U" --rw=randwrite --bs=64k --iodepth=16 --size=64M \
    --time_based --runtime=30 >/dev/null 2>&1 &
FIO=$!
wait_until 10 "fio started writing" writes_over 100
kill -9 "$n1_PID"
wait "$n1_PID" 2>/dev/null || true
kill $FIO 2>/dev/null; wait $FIO 2>/dev/null || true
start_daemon n1
assert_eq "${H[s3]}" "$(snap_hash s3)" "s3 after kill -9 under writes"
assert_eq "${H[s5]}" "$(snap_hash s5)" "s5 after kill -9 under writes"
stop_daemon n1
