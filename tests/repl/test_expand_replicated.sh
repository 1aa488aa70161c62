#!/usr/bin/env bash
# A replicated volume (three tandemd processes on loopback ports) grows online on every replica:
# expand on the primary, write at the new end, and the replicas are byte-identical at the new
# size. A secondary that was down during the expansion grows when it attaches again and is
# resynced. A secondary refuses to expand and names the primary.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes r 32M
wait_in_sync n1 r
rand_file "$T/a.img" 32
nbdcopy "$T/a.img" "$(nbd_uri n1 r)"

ctl n2 volume expand r --size 48M 2>"$T/err" && fail "a secondary expanded"
assert_contains "$(cat "$T/err")" "expanded on its primary" "secondary refusal"

stop_daemon n3
n3_gone() { [ "$(link_state n1 r n3)" != Connected ]; }
wait_until 10 "n1 to see n3 gone" n3_gone
out=$(ctl n1 volume expand r --size 48M --json)
assert_eq "grown grown at next attach" "$(jq -r '[.replicas[].state] | join(" ")' <<<"$out")" "per-replica states"
for n in n1 n2; do
    assert_eq 50331648 "$(rstatus $n r | jq -r .size)" "size on $n"
done
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x4d 46M 2M" -c "write -P 0x4e 1M 1M" -c flush >/dev/null

start_node n3 $P3
wait_in_sync n1 r 30
assert_eq 50331648 "$(rstatus n3 r | jq -r .size)" "n3 grew at attach"
assert_replicas_identical r n1 n2 n3
for n in n1 n2 n3; do stop_daemon $n; done
