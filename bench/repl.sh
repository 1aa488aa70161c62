#!/usr/bin/env bash
# Replication benchmark: the cost of synchronous replicas, side by side in one run.
#   1 replica (a plain volume) vs 2 vs 3 replicas, over loopback, and again with ~1 ms round
#   trips between nodes (tests/tools/tcp_fault_proxy, 500 us each way) to show a cross-zone hop;
#   then resync throughput after a secondary missed 1 GiB of writes.
# fio's nbd engine against the primary's Unix socket. All tandemd processes pinned to CPU 1,
# fio to CPU 0 (the 2-vCPU box cannot give each zone its own core).
#
# Placement. In production every zone is its own machine: a secondary's receive, checksum and
# disk write never take the primary's CPU. Here, by default, they do: with all three daemons on
# CPU 1, a 1M write costs CPU 1 two page-cache copies (client socket, local file) with one
# replica and at least five with two (client socket, local file, TCP send, TCP receive, the
# secondary's file) plus two CRC passes, so the 1M ratio cannot approach 0.9 whatever the
# code does: the default placement measures the whole replica set's CPU on one core.
# BENCH_REPL_SECONDARY_CPU=0 puts the secondaries on the other core, the one fio uses: the
# primary's core then does only the primary's work, as in production, while the secondaries
# take their CPU from the load generator (which is what keeps that placement from flattering
# replication). Both placements' tables go in reports; neither alone is the production number.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
B=${TANDEM_BENCH_BIN:-$PWD/build}
PROXY=${TANDEM_PROXY:-$PWD/build/asan/tools/tcp_fault_proxy}
[ -x "$PROXY" ] || make --no-print-directory build/asan/tools/tcp_fault_proxy >/dev/null
D=$BENCH_DIR/repl
rm -rf "$D"
mkdir -p "$D"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap 'cleanup; rm -rf "$SHM"' EXIT
BASE=$((23000 + RANDOM % 5000))
SIZE=${BENCH_REPL_SIZE_MIB:-512}
# resync throughput is measured unthrottled (tandemd's default cap is 100 MB/s)
RESYNC_RATE=${BENCH_RESYNC_RATE:-0}
SECONDARY_CPU=${BENCH_REPL_SECONDARY_CPU:-$SERVER_CPU}
node_cpu() { if [ "$1" = 1 ]; then echo "$SERVER_CPU"; else echo "$SECONDARY_CPU"; fi; }

# The secondaries keep their data on tmpfs: in production each zone has its own disk, and here
# all three would otherwise share one, so every replica would halve the disk's bandwidth and
# the table would measure the shared disk rather than replication.
SHM=/dev/shm/tandem-bench-repl
rm -rf "$SHM"
mkdir -p "$SHM"
# BENCH_REPL_PRIMARY=tmpfs puts the primary on tmpfs too: no disk in the picture, so the
# table shows what replication itself costs in CPU (this VM's shared disk moves +-30%).
PRIMARY=${BENCH_REPL_PRIMARY:-disk}
datadir() { if [ "$1" = 1 ] && [ "$PRIMARY" != tmpfs ]; then echo "$D/n1"; else echo "$SHM/n$1"; fi; }
# CPU time (user+system, clock ticks) of every tandemd so far
cpu_ticks() {
    local t=0 p n
    for n in 1 2 3; do
        eval "p=\${N${n}_PID:-}"
        [ -n "$p" ] && [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo $t
}
node() { # node N
    taskset -c "$(node_cpu "$1")" "$B/tandemd" --data-dir "$(datadir "$1")" --node "n$1" --zone "z$1" \
        --listen "127.0.0.1:$((BASE + $1))" --peer-timeout 5 --resync-rate "$RESYNC_RATE" \
        >>"$D/n$1.log" 2>&1 &
    PIDS+=($!)
    eval "N$1_PID=$!"
    until "$B/tandemctl" --control "$(datadir "$1")/control.sock" node status >/dev/null 2>&1; do sleep 0.05; done
}
proxy() { # proxy N VAR: delaying proxy in front of node N's listener; its address goes in VAR
    # (not called as $(proxy N): PIDS+= in a subshell is lost, and the proxies outlived the run)
    taskset -c "$SERVER_CPU" "$PROXY" --listen 127.0.0.1:0 --target "127.0.0.1:$((BASE + $1))" \
        --control "$D/p$1.ctl" --delay-us 500 >>"$D/p$1.log" 2>&1 &
    PIDS+=($!)
    PROXY_PIDS+=($!)
    until "$PROXY" ctl "$D/p$1.ctl" addr >/dev/null 2>&1; do sleep 0.05; done
    local a
    a=$("$PROXY" ctl "$D/p$1.ctl" addr | sed 's/^ok //')
    printf -v "$2" %s "$a"
}
ctl1() { "$B/tandemctl" --control "$(datadir 1)/control.sock" "$@"; }
in_sync() {
    ctl1 volume status "$1" --json | /usr/bin/python3 -c 'import json,sys
v=json.load(sys.stdin); sys.exit(0 if all(r["connection"] in ("local","Connected") and r.get("out_of_sync_bytes",0)==0 for r in v["replicas"]) else 1)'
}

WORKLOADS=(
    "4k randwrite QD1|--rw=randwrite --bs=4k --iodepth=1"
    "4k randwrite QD32|--rw=randwrite --bs=4k --iodepth=32"
    "1M seq write QD8|--rw=write --bs=1M --iodepth=8"
)
run_set() { # run_set LABEL VOLUME
    local i=0
    for w in "${WORKLOADS[@]}"; do
        local c0
        c0=$(cpu_ticks)
        # shellcheck disable=SC2086
        fio_json "$D/$1.$i.json" --name=b --ioengine=nbd --uri="nbd+unix:///$2?socket=$(datadir 1)/nbd.sock" \
            --size="${SIZE}M" ${w#*|}
        echo $(($(cpu_ticks) - c0)) >"$D/$1.$i.cpu"
        i=$((i + 1))
    done
}

A2=127.0.0.1:$((BASE + 2)) A3=127.0.0.1:$((BASE + 3)) A1=127.0.0.1:$((BASE + 1))
echo "# replication benchmark: ${SIZE} MiB volumes, ${BENCH_RUNTIME}s per run, primary tandemd on CPU $SERVER_CPU, secondaries on CPU $SECONDARY_CPU, fio on CPU $CLIENT_CPU"
echo "# primary on $(df -T "$(dirname "$(datadir 1)")" | awk 'NR==2{print $2}'), secondaries on tmpfs (their own \"disks\"); ratios against 1 replica"
echo "# cpu: tandemd CPU time (all nodes, user+system) per write, in us, from /proc"

PROXY_PIDS=()
stop_nodes() {
    for n in 1 2 3; do eval "kill -TERM \$N${n}_PID"; done
    for p in "${PROXY_PIDS[@]}"; do kill -TERM "$p"; done
    PROXY_PIDS=()
    wait 2>/dev/null || true
    rm -rf "$D"/n1 "$SHM"/n*
}
# direct loopback between the nodes
for n in 1 2 3; do node $n; done
ctl1 volume create one --size ${SIZE}M >/dev/null
ctl1 volume create two --size ${SIZE}M --replica n1@$A1 --replica n2@$A2 >/dev/null
ctl1 volume create three --size ${SIZE}M --replica n1@$A1 --replica n2@$A2 --replica n3@$A3 >/dev/null
for v in one two three; do run_set "$v" "$v"; done
stop_nodes
# again with every node-to-node byte through a proxy that delays it 500 us each way (one peer
# connection per node pair carries all volumes, so this needs a cluster of its own)
for n in 1 2 3; do node $n; done
proxy 2 X2
proxy 3 X3
ctl1 volume create two-x --size ${SIZE}M --replica n1@$A1 --replica n2@$X2 >/dev/null
run_set two-x two-x
ctl1 volume create three-x --size ${SIZE}M --replica n1@$A1 --replica n2@$X2 --replica n3@$X3 >/dev/null
run_set three-x three-x
stop_nodes
for n in 1 2 3; do node $n; done

printf '\n%-18s | %-26s | %-26s | %-26s | %-26s | %-26s\n' workload "1 replica" "2 replicas" "3 replicas" \
    "2 replicas, 1 ms RTT" "3 replicas, 1 ms RTT"
printf '%-18s |' ""
for _ in 1 2 3 4 5; do printf ' %-32s |' "IOPS  MB/s  p50us p99us cpu"; done
echo
i=0
for w in "${WORKLOADS[@]}"; do
    printf '%-18s |' "${w%%|*}"
    read -r bi _ _ _ <<<"$(fio_summary "$D/one.$i.json")"
    for v in one two three two-x three-x; do
        read -r a m p5 p9 <<<"$(fio_summary "$D/$v.$i.json")"
        # cpu per write: ticks (1/100 s) over the writes of the run (ramp included: approximate)
        cpu=$(/usr/bin/python3 -c "print('%.0f' % ($(cat "$D/$v.$i.cpu") * 1e4 / max(1, $a * ($BENCH_RUNTIME + 1))))")
        printf ' %6s %6s %5s %5s %5s %4s|' "$a" "$m" "$p5" "$p9" "$cpu" \
            "$(/usr/bin/python3 -c "print('%.2fx' % ($a / $bi if $bi else 0))")"
    done
    echo
    i=$((i + 1))
done

# resync: n3 misses 1 GiB of sequential writes, then returns
ctl1 volume create rs --size 1280M --replica n1@$A1 --replica n2@$A2 --replica n3@$A3 >/dev/null
kill -9 "$N3_PID"
until ctl1 volume status rs --json | grep -q '"Disconnected"'; do sleep 0.1; done
taskset -c "$CLIENT_CPU" fio --name=d --ioengine=nbd --uri="nbd+unix:///rs?socket=$(datadir 1)/nbd.sock" \
    --rw=write --bs=1M --iodepth=8 --size=1G --output="$D/rs-fill.txt" >/dev/null
dirty=$(ctl1 volume status rs --json | /usr/bin/python3 -c 'import json,sys; print([r for r in json.load(sys.stdin)["replicas"] if r["node"]=="n3"][0]["out_of_sync_bytes"])')
t0=$(date +%s.%N)
node 3
until in_sync rs; do sleep 0.05; done
t1=$(date +%s.%N)
/usr/bin/python3 -c "d=$dirty; t=$t1-$t0; print('\nresync after a 1 GiB outage: %d MiB dirty, in sync after %.2fs (including restart and reconnect): %.0f MB/s' % (d>>20, t, d/t/1e6))"
