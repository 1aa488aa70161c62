#!/usr/bin/env bash
# `make demo`: the quickstart from README.md, run for real and narrated. A throwaway data
# directory under /tmp, one tandemd, one volume, data written and read back with real NBD
# clients, a restart, and the same bytes read again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
B=$PWD/build
D=$(mktemp -d /tmp/tandem-demo.XXXXXX)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
cleanup() {
    set +e # every step must run even if one fails
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$D"
}
trap cleanup EXIT
start() {
    "$B/tandemd" --data-dir "$D/node1" --node node1 --zone zone-a >>"$D/tandemd.log" 2>&1 &
    PID=$!
    for _ in $(seq 200); do
        "$B/tandemctl" --control "$D/node1/control.sock" node status >/dev/null 2>&1 && return
        sleep 0.05
    done
    echo "tandemd did not start:" && cat "$D/tandemd.log" && exit 1
}

step "Start tandemd (data in $D/node1, NBD on $D/node1/nbd.sock)"
printf '$ tandemd --data-dir %s/node1 --node node1 --zone zone-a &\n' "$D"
start
export TANDEM_CONTROL=$D/node1/control.sock
run "$B/tandemctl" node status

step "Create a 1 GiB volume"
run "$B/tandemctl" volume create jenkins-home --size 1G
URI="nbd+unix:///jenkins-home?socket=$D/node1/nbd.sock"
run nbdinfo "$URI"

step "Write and verify patterns with qemu-io"
run qemu-io -f raw "$URI" -c "write -P 0x5a 0 4M" -c "write -P 0xa5 512M 1M" -c flush \
    -c "read -P 0x5a 0 4M" -c "read -P 0xa5 512M 1M"

step "Copy a 64 MiB random image in and out with nbdcopy"
head -c 64M /dev/urandom >"$D/image.raw"
run nbdcopy "$D/image.raw" "$URI"
run nbdcopy "$URI" "$D/readback.raw"
head -c 64M "$D/readback.raw" | cmp - "$D/image.raw" && echo "readback is byte-identical"
run nbdinfo --map "$URI"

step "Restart tandemd: the volume and its bytes persist"
kill -TERM "$PID" && wait "$PID" && PID=
start
run "$B/tandemctl" volume list
run nbdcopy "$URI" "$D/after-restart.raw"
head -c 64M "$D/after-restart.raw" | cmp - "$D/image.raw" && echo "after restart: byte-identical"
run "$B/tandemctl" volume status jenkins-home

kill -TERM "$PID" && wait "$PID" && PID=

step "Replication: three nodes in three zones (here: three tandemd processes on loopback ports)"
PIDS=()
cleanup_repl() {
    set +e
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
}
trap 'cleanup_repl; cleanup' EXIT
startn() { # startn N
    "$B/tandemd" --data-dir "$D/z$1" --node "node-$1" --zone "zone-$1" \
        --listen "127.0.0.1:$((17760 + $1))" --peer-timeout 2 >>"$D/z$1.log" 2>&1 &
    PIDS[$1]=$!
    for _ in $(seq 200); do
        "$B/tandemctl" --control "$D/z$1/control.sock" node status >/dev/null 2>&1 && return
        sleep 0.05
    done
    echo "tandemd node-$1 did not start:" && cat "$D/z$1.log" && exit 1
}
for n in 1 2 3; do startn $n; done
C1=("$B/tandemctl" --control "$D/z1/control.sock")
C2=("$B/tandemctl" --control "$D/z2/control.sock")
run "${C1[@]}" volume create ci-cache --size 256M --replica node-1@127.0.0.1:17761 \
    --replica node-2@127.0.0.1:17762 --replica node-3@127.0.0.1:17763
run "${C1[@]}" volume status ci-cache
head -c 32M /dev/urandom >"$D/cache.raw"
run nbdcopy "$D/cache.raw" "nbd+unix:///ci-cache?socket=$D/z1/nbd.sock"
want=$(sha256sum <"$D/cache.raw" | cut -c1-64)

step "Kill -9 the primary (node-1), promote node-2, read the data back there"
kill -9 "${PIDS[1]}"
# promotion needs a majority of votes, and a voter still connected to node-1 refuses its vote:
# wait (bounded) until node-2 and node-3 both see node-1 gone
C3=("$B/tandemctl" --control "$D/z3/control.sock")
sees_n1_gone() {
    "$@" volume status ci-cache --json | jq -e '.replicas[] | select(.node == "node-1") |
        .connection != "Connected"' >/dev/null
}
for _ in $(seq 100); do
    sees_n1_gone "${C2[@]}" && sees_n1_gone "${C3[@]}" && break
    sleep 0.1
done
run "${C2[@]}" volume promote ci-cache --force
run nbdcopy "nbd+unix:///ci-cache?socket=$D/z2/nbd.sock" "$D/from-node-2.raw"
head -c 32M "$D/from-node-2.raw" | sha256sum | cut -c1-64 >"$D/got"
echo "written:   $want"
echo "read back: $(cat "$D/got")"
[ "$(cat "$D/got")" = "$want" ] && echo "node-2 serves every acknowledged byte"

step "node-1 returns: it finds newer data, demotes itself and is resynced"
startn 1
for _ in $(seq 200); do
    st=$("${C2[@]}" volume status ci-cache --json)
    echo "$st" | /usr/bin/python3 -c 'import json,sys; v=json.load(sys.stdin); sys.exit(0 if all(r["connection"] in ("local","Connected") and r.get("out_of_sync_bytes",0)==0 for r in v["replicas"]) else 1)' && break
    sleep 0.1
done
run "${C2[@]}" volume status ci-cache
sha256sum "$D"/z*/volumes/ci-cache/data | sed "s|$D/||"

step "Snapshots: one write boundary on every replica, shipped to a backup store, restored elsewhere"
U2="nbd+unix:///ci-cache?socket=$D/z2/nbd.sock"
nbdcopy "$U2" "$D/at-snap-1.raw"
run "${C2[@]}" snapshot create ci-cache nightly-1
run "${C2[@]}" snapshot ship ci-cache nightly-1 --to "file://$D/backups" --wait
echo "(the rest of the day: 100 scattered 4 KiB writes)"
for i in $(seq 100); do printf -- '-c\0write -P %d %d 4k\0' $((i % 250 + 1)) $((i * 2477 % 65000 * 4096)); done |
    xargs -0 qemu-io -f raw "$U2" >/dev/null
nbdcopy "$U2" "$D/at-snap-2.raw"
run "${C2[@]}" snapshot create ci-cache nightly-2
run "${C2[@]}" snapshot ship ci-cache nightly-2 --to "file://$D/backups" --wait
run "$B/tandem-restore" list --from "file://$D/backups"
echo "(a fresh directory stands for the other region: only the backup store is needed there)"
mkdir -p "$D/other-region"
for s in 1 2; do
    run "$B/tandem-restore" restore --from "file://$D/backups" --volume ci-cache \
        --snapshot nightly-$s --to "$D/other-region/ci-cache-$s.img" --no-progress
    a=$(sha256sum <"$D/at-snap-$s.raw" | cut -c1-16) b=$(sha256sum <"$D/other-region/ci-cache-$s.img" | cut -c1-16)
    echo "nightly-$s: volume at snapshot time $a, restored $b"
    [ "$a" = "$b" ] || { echo "restore of nightly-$s differs"; exit 1; }
done

step "CSI: what Kubernetes does for a Jenkins PVC on StorageClass tandem-r3"
# tandem-csi's controller reaches the three daemons through a nodes file; the node plugin runs
# for node-2 (the zone the scheduler picked). Each call below goes over the plugins' real
# gRPC sockets, as the sidecars and kubelet would send it.
CSI_OK=
if /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null && command -v protoc >/dev/null; then
    printf 'node-%s unix:%s/z%s/control.sock 127.0.0.1:%s\n' 1 "$D" 1 17761 2 "$D" 2 17762 3 "$D" 3 17763 \
        >"$D/nodes"
    mkdir -p "$D/py"
    protoc -Iproto -I/usr/include --python_out="$D/py" proto/csi.proto
    "$B/tandem-csi" --mode controller --endpoint "unix://$D/controller.sock" --node-id controller \
        --nodes "$D/nodes" --state-dir "$D" >>"$D/csi.log" 2>&1 &
    PIDS[4]=$!
    "$B/tandem-csi" --mode node --endpoint "unix://$D/node.sock" --node-id node-2 \
        --tandem-control "$D/z2/control.sock" --state-dir "$D/csi-node" >>"$D/csi.log" 2>&1 &
    PIDS[5]=$!
    for _ in $(seq 200); do [ -S "$D/controller.sock" ] && [ -S "$D/node.sock" ] && break; sleep 0.05; done
    PYTHONPATH="$D/py:$PWD/tests/csi/lib" /usr/bin/python3 scripts/csi-demo.py "$D" && CSI_OK=1
    grep -o 'attached as .* via [^)]*)\?' "$D/csi.log" | head -1 | sed 's/^/   node plugin: /'
    kill -TERM "${PIDS[4]}" "${PIDS[5]}" 2>/dev/null
    wait "${PIDS[4]}" "${PIDS[5]}" 2>/dev/null || true
else
    echo "(Debian's python3-grpcio / protoc not installed: run make deps)"
fi

step "Done. What happened:"
cat <<TXT
  - tandemd served volume jenkins-home over NBD on a Unix socket ($(grep -o 'io engine [a-z_]*' "$D/tandemd.log" | head -1), O_DIRECT)
  - qemu-io wrote and verified patterns; nbdcopy wrote 64 MiB and read it back identical
  - nbdinfo --map showed only written regions allocated (the volume file is sparse)
  - after a restart the same bytes were read back
  - a volume replicated synchronously to three nodes survived kill -9 of its primary: node-2 was
    promoted and served identical bytes; the old primary came back as a secondary and was
    resynced until all three data files had the same SHA-256
  - two snapshots were cut at one write boundary on every replica and shipped to a file://
    backup store (the second incrementally: only the changed chunks), then restored from the
    store alone into a fresh directory, byte-identical to the volume when each was taken
TXT
if [ -n "$CSI_OK" ]; then
    cat <<TXT
  - tandem-csi provisioned a three-zone Jenkins volume (primary in the pod's zone), moved the
    primary to the consuming node on publish, formatted and mounted it there, snapshotted it to a
    backup store, restored a new volume from the snapshot and read the Jenkins config back
TXT
fi
