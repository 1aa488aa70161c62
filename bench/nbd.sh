#!/usr/bin/env bash
# NBD frontend benchmark: tandemd against the same-mode peer, one run, same backing filesystem.
#   tandemd --cache none       vs  qemu-nbd --cache=none --aio=io_uring   (both O_DIRECT)
#   tandemd --cache writeback  vs  nbdkit file                            (both page cache)
#   fio io_uring direct on a local file: the physical limit
# All over Unix sockets, fio's nbd engine (libnbd), server pinned to CPU 1, fio to CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
B=${TANDEM_BENCH_BIN:-$PWD/build}
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
D=$BENCH_DIR
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# A fully allocated, written file, so no run pays for block allocation. Written with O_DIRECT so
# that no server starts with the file in the page cache: pages a buffered dd leaves behind sit
# in large folios (ext4, Linux 6.16+), and a 4 KiB buffered write into a 2 MiB folio walks all
# 512 of its buffer heads (~20 us, measured with perf: ext4_block_write_begin at 78% of the
# server's CPU). That cost belongs to the prefill, not to either server, and it swamped both.
prefill() {
    dd if=/dev/urandom of="$1" bs=1M count="$SIZE_MIB" oflag=direct conv=fsync status=none
}

WORKLOADS=(
    "4k randwrite QD1|--rw=randwrite --bs=4k --iodepth=1"
    "4k randwrite QD32|--rw=randwrite --bs=4k --iodepth=32"
    "4k randread QD32|--rw=randread --bs=4k --iodepth=32"
    "1M seq write QD8|--rw=write --bs=1M --iodepth=8"
    "1M seq read QD8|--rw=read --bs=1M --iodepth=8"
)

# run_pair A_LABEL A_URI B_LABEL B_URI: every workload alternately on A and B, BENCH_REPS
# times each, so drift in this machine's disk (large, on shared hosts) hits both sides alike.
BENCH_REPS=${BENCH_REPS:-3}
run_pair() {
    local i=0
    for w in "${WORKLOADS[@]}"; do
        for r in $(seq "$BENCH_REPS"); do
            # shellcheck disable=SC2086
            fio_json "$D/$1.$i.$r.json" --name=b --ioengine=nbd --uri="$2" --size="${SIZE_MIB}M" ${w#*|}
            # shellcheck disable=SC2086
            fio_json "$D/$3.$i.$r.json" --name=b --ioengine=nbd --uri="$4" --size="${SIZE_MIB}M" ${w#*|}
        done
        i=$((i + 1))
    done
}

start_tandemd() { # start_tandemd CACHE
    local dd=$D/tandemd-$1
    mkdir -p "$dd"
    taskset -c "$SERVER_CPU" "$B/tandemd" --data-dir "$dd" --node bench --cache "$1" >"$dd.log" 2>&1 &
    PIDS+=($!)
    wait_socket "$dd/control.sock"
    "$B/tandemctl" --control "$dd/control.sock" volume create v --size "${SIZE_MIB}M" >/dev/null
    kill "${PIDS[-1]}"
    wait "${PIDS[-1]}" || true
    prefill "$dd/volumes/v/data"
    taskset -c "$SERVER_CPU" "$B/tandemd" --data-dir "$dd" --node bench --cache "$1" >>"$dd.log" 2>&1 &
    PIDS+=($!)
    wait_socket "$dd/control.sock"
    until "$B/tandemctl" --control "$dd/control.sock" node status >/dev/null 2>&1; do sleep 0.05; done
}

echo "# NBD benchmark: ${SIZE_MIB} MiB backing files on $(df -T "$D" | awk 'NR==2{print $2}') ($D), ${BENCH_RUNTIME}s per run, server on CPU $SERVER_CPU, fio on CPU $CLIENT_CPU"

# --- O_DIRECT pair ---
# qemu-nbd serves tandemd's own data file (tandemd is idle while qemu-nbd runs): the very same
# blocks on disk, so where the filesystem happened to place two prefills cannot favour either
# side of an O_DIRECT run. (Separate files put one of them 5% above fio's local figure.)
start_tandemd none
taskset -c "$SERVER_CPU" qemu-nbd --cache=none --aio=io_uring -f raw -k "$D/qemu.sock" -x v \
    --shared=16 --persistent "$D/tandemd-none/volumes/v/data" >"$D/qemu.log" 2>&1 &
PIDS+=($!)
wait_socket "$D/qemu.sock"
run_pair tandem-none "nbd+unix:///v?socket=$D/tandemd-none/nbd.sock" qemu "nbd+unix:///v?socket=$D/qemu.sock"
kill "${PIDS[-1]}" "${PIDS[-2]}"

# --- page cache pair ---
start_tandemd writeback
prefill "$D/nbdkit.raw"
taskset -c "$SERVER_CPU" nbdkit -f -U "$D/nbdkit.sock" -e v file "$D/nbdkit.raw" >"$D/nbdkit.log" 2>&1 &
PIDS+=($!)
wait_socket "$D/nbdkit.sock"
run_pair tandem-wb "nbd+unix:///v?socket=$D/tandemd-writeback/nbd.sock" nbdkit "nbd+unix:///v?socket=$D/nbdkit.sock"
kill "${PIDS[-1]}" "${PIDS[-2]}"
rm -f "$D/nbdkit.raw"

# --- the disk itself: fio on the same data file ---
# With its I/O buffers in huge pages, as tandemd's are (util/bufpool.h): with 4 KiB pages a
# 1 MiB O_DIRECT request is 256 segments and this virtio disk gives a quarter of its speed, so
# fio's default buffers would show the page size, not the disk. hugetlbfs pages are reserved
# for the run and given back after; if none can be had, fio uses ordinary memory and says so.
HUGEPAGES_BEFORE=$(cat /proc/sys/vm/nr_hugepages)
restore_hugepages() { echo "$HUGEPAGES_BEFORE" >/proc/sys/vm/nr_hugepages 2>/dev/null || true; }
trap 'cleanup; restore_hugepages' EXIT
LOCAL_MEM=malloc
if echo $((HUGEPAGES_BEFORE + 16)) >/proc/sys/vm/nr_hugepages 2>/dev/null &&
    [ "$(cat /proc/sys/vm/nr_hugepages)" -ge $((HUGEPAGES_BEFORE + 16)) ]; then
    LOCAL_MEM=shmhuge
fi
LOCAL_LABEL="fio io_uring direct, $([ $LOCAL_MEM = shmhuge ] && echo "huge pages" || echo "4K pages!")"
i=0
for w in "${WORKLOADS[@]}"; do
    for r in $(seq "$BENCH_REPS"); do
        # shellcheck disable=SC2086
        fio_json "$D/local.$i.$r.json" --name=b --ioengine=io_uring --direct=1 --filename="$D/tandemd-none/volumes/v/data" \
            --iomem="$LOCAL_MEM" --size="${SIZE_MIB}M" ${w#*|}
    done
    i=$((i + 1))
done
restore_hugepages

printf '\n%-18s | %-34s | %-34s | %6s\n' "workload" "tandemd --cache none" "qemu-nbd --cache=none io_uring" "ratio"
printf '%-18s | %-34s | %-34s | %6s\n' "" "IOPS  MB/s  p50us  p99us" "IOPS  MB/s  p50us  p99us" ""
table() { # table A B
    local i=0
    for w in "${WORKLOADS[@]}"; do
        read -r ai am a5 a9 <<<"$(fio_summary "$D/$1.$i".*.json)"
        read -r bi bm b5 b9 <<<"$(fio_summary "$D/$2.$i".*.json)"
        ratio=$(/usr/bin/python3 -c "print('%.2f' % ($ai / $bi if $bi else 0))")
        printf '%-18s | %7s %6s %6s %6s       | %7s %6s %6s %6s       | %5sx\n' "${w%%|*}" \
            "$ai" "$am" "$a5" "$a9" "$bi" "$bm" "$b5" "$b9" "$ratio"
        i=$((i + 1))
    done
}
table tandem-none qemu
printf '\n%-18s | %-34s | %-34s | %6s\n' "workload" "tandemd --cache writeback" "nbdkit file (page cache)" "ratio"
table tandem-wb nbdkit
printf '\n%-18s | %-34s | %-34s | %6s\n' "workload" "tandemd --cache none" "$LOCAL_LABEL" "ratio"
table tandem-none local
rm -f "$D"/*.raw "$D"/tandemd-*/volumes/v/data
