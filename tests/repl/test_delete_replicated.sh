#!/usr/bin/env bash
# volume.delete of a replicated volume on each replica's daemon: the replica goes, the daemons
# keep running and serving (the rvol used to outlive its registry entry: a use-after-free on
# the next frame), a volume with an attached client is refused (busy), and a new volume of the
# same name can be created afterwards.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
three_nodes d 32M
wait_in_sync n1 d
qemu-io -f raw "$(nbd_uri n1 d)" -c "write -P 0x5a 0 1M" >/dev/null
# a client attached on the primary: refused
nbdsh -u "$(nbd_uri n1 d)" -c 'import os; os.read(0, 1)' < <(sleep 5) &
_PIDS+=($!)
wait_until 10 "the client to attach" sh -c "[ \$($TANDEMCTL --control $T/n1/control.sock volume status d --json | jq .clients) = 1 ]"
out=$(ctl n1 volume delete d 2>&1) && fail "deleted a volume with a client attached"
assert_contains "$out" "in use" "busy refusal"
wait_until 10 "the client to leave" sh -c "[ \$($TANDEMCTL --control $T/n1/control.sock volume status d --json | jq .clients) = 0 ]"
for n in n2 n3 n1; do ctl $n volume delete d >/dev/null; done
for n in n1 n2 n3; do
    assert_eq "[]" "$(ctl $n volume list --json | jq -c '[.[].name]')" "volumes left on $n"
done
ctl n1 volume create d --size 32M "${REPLICAS[@]}" >/dev/null
wait_in_sync n1 d
for n in n1 n2 n3; do stop_daemon $n; done
