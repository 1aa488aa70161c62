#!/usr/bin/env bash
# A snapshot of a replicated volume (three tandemd processes on loopback ports, one per zone)
# is cut at the same write boundary on every replica: taken while fio keeps writing through
# the primary, the three replicas' images of it are byte-identical, and so are their sequence
# numbers. A secondary that is down misses the snapshot and is reported as such; a secondary
# refuses to take one and names the primary. Deleting on the primary deletes everywhere.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes r 64M
wait_in_sync n1 r
rand_file "$T/a.img" 64
nbdcopy "$T/a.img" "$(nbd_uri n1 r)"

snap_hash() { # snap_hash NODE SNAP
    rm -f "$T/exp-$1.img"
    ctl "$1" snapshot export r "$2" --to "$T/exp-$1.img" --wait >/dev/null || fail "export of $2 on $1"
    sha256sum <"$T/exp-$1.img" | cut -d' ' -f1
}
writes() { rstatus n1 r | jq -r .io.writes; }
writes_over() { [ "$(writes)" -gt "$1" ]; }

fio --name=w --ioengine=nbd --uri="$(nbd_uri n1 r)" --rw=randwrite --bs=4k --iodepth=16 \
    --size=64M --time_based --runtime=60 >/dev/null 2>&1 &
FIO=$!
on_exit "kill $FIO 2>/dev/null"
base=$(writes)
wait_until 10 "fio writing" writes_over $((base + 500))
out=$(ctl n1 snapshot create r under-load)
assert_contains "$out" "n2           taken" "n2 took it"
assert_contains "$out" "n3           taken" "n3 took it"
base=$(writes)
wait_until 10 "fio still writing after the snapshot" writes_over $((base + 500))
kill $FIO; wait $FIO 2>/dev/null || true

h1=$(snap_hash n1 under-load)
assert_eq "$h1" "$(snap_hash n2 under-load)" "n2's image of the snapshot"
assert_eq "$h1" "$(snap_hash n3 under-load)" "n3's image of the snapshot"
[ "$h1" != "$(sha256sum <"$T/a.img" | cut -d' ' -f1)" ] || fail "fio wrote nothing before the snapshot"
seqs=$(for n in n1 n2 n3; do ctl $n snapshot list r --json | jq -r '.[0].seq'; done | sort -u)
assert_eq "1" "$seqs" "one sequence number on every replica"

# deleting on the primary deletes every replica's copy
ctl n1 snapshot create r second >/dev/null
ctl n1 snapshot delete r under-load >/dev/null
only_second() { [ "$(ctl "$1" snapshot list r --json | jq -r '[.[].name] | join(" ")')" = second ]; }
for n in n1 n2 n3; do wait_until 20 "$n to drop snapshot under-load" only_second $n; done

# a secondary refuses and names the primary
ctl n2 snapshot create r nope 2>"$T/err" && fail "a secondary took a snapshot"
assert_contains "$(cat "$T/err")" "snapshots are taken on the primary" "secondary refusal"
assert_contains "$(cat "$T/err")" "n1" "refusal names the primary"

# n3 down: it misses the next snapshot, the other two agree on it
assert_eq Connected "$(link_state n1 r n3)" "n3's link before it stops"
stop_daemon n3
n3_gone() { [ "$(link_state n1 r n3)" != Connected ]; }
wait_until 10 "n1 to see n3 gone" n3_gone
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x5a 1M 2M" -c flush >/dev/null
out=$(ctl n1 snapshot create r without-n3)
assert_contains "$out" "n3           missed" "n3 reported as missed"
assert_eq "$(snap_hash n1 without-n3)" "$(snap_hash n2 without-n3)" "n2's image with n3 down"
for n in n1 n2; do stop_daemon $n; done
