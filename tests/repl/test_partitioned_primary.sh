#!/usr/bin/env bash
# The primary is cut away from the majority: the other two detect it within the peer timeout,
# one is promoted and takes writes. With network namespaces, n1's zone link goes down while n1
# runs: it loses quorum, and a write made there meanwhile is held, never acknowledged. When the
# primary comes back, the generation ids show it is behind (it wrote nothing alone): it demotes
# itself (failing the held write with EIO) and takes a clean resync, no split brain.
# Zones: network namespaces where the machine allows them; else loopback ports, where the cut is
# SIGSTOP (sockets stay open, only silence gives it away). Split brain: test_split_brain.sh.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
zones_netns n1 n2 n3
three_nodes r 64M
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x10 0 8M" >/dev/null
wait_in_sync n1 r
if [ "$ZONES" = netns ]; then cut_zone n1; else kill -STOP "$n1_PID"; fi
t0=$SECONDS
wait_link n2 r n1 Disconnected 15
log "n2 dropped the silent primary after $((SECONDS - t0))s (peer timeout 3s)"
held=""
if [ "$ZONES" = netns ]; then
    _n1_alone() { [ "$(rstatus n1 r | jq -r .quorum)" = false ]; }
    wait_until 15 "n1 to lose quorum" _n1_alone
    qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x77 4M 1M" >"$T/held.out" 2>&1 &
    held=$!
    _held() { [ "$(rstatus n1 r | jq -r .suspended_writes)" = true ]; }
    wait_until 10 "the isolated primary to hold the write" _held
fi
# n3 votes for n2 only once it, too, sees no live primary (proto §5)
wait_link n3 r n1 Disconnected 15
ctl n2 volume promote r --force >/dev/null
qemu-io -f raw "$(nbd_uri n2 r)" -c "write -P 0x20 4M 2M" -c "write -P 0x21 30M 1M" >/dev/null
if [ "$ZONES" = netns ]; then heal_zone n1; else kill -CONT "$n1_PID"; fi
wait_in_sync n2 r 40
assert_eq secondary "$(rstatus n1 r | jq -r .role)" "returned primary"
assert_eq false "$(rstatus n2 r | jq -r .split_brain)" "no split brain"
if [ -n "$held" ]; then
    wait $held && fail "the isolated primary acknowledged a write: $(cat "$T/held.out")"
    assert_contains "$(cat "$T/held.out")" "Input/output error" "held write on the demoted primary"
fi
assert_replicas_identical r n2 n1 n3
qemu-io -f raw "$(nbd_uri n2 r)" -c "read -P 0x20 4M 2M" -c "read -P 0x10 0 4M" >/dev/null ||
    fail "the majority's data"
for n in n1 n2 n3; do stop_daemon $n; done
