# shellcheck shell=bash
# Helpers for the CSI conformance suite. Source after common.sh and repl.sh.
#   csi_require              skips (77) when Debian's python3 lacks grpcio / protobuf
#   csi_cluster [VOL_DIRS]   three tandemd daemons n1 n2 n3 (zones zone-n1..3, loopback ports)
#                            and the controller plugin on $T/controller.sock
#   csi_node NAME            the node plugin for tandemd NAME on $T/node_NAME.sock
#   csi_py SCRIPT [ARGS]     runs a Python scenario with the generated CSI stubs on its path
#   csi_stop NAME            SIGTERM one plugin; fails unless it exits 0 with no sanitizer report
# The plugins play against real daemons; the Python scenarios play kubelet and the sidecars
# over the real Unix sockets (tests/csi/lib/csi_client.py).
CSI_BIN=$TANDEM_BIN/tandem-csi
CSI_PY=/usr/bin/python3
CSI_LIB=$TANDEM_ROOT/tests/csi/lib

csi_require() {
    "$CSI_PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
        { echo "Debian's python3-grpcio / python3-protobuf are not installed"; exit 77; }
    command -v protoc >/dev/null || { echo "protoc (protobuf-compiler) is not installed"; exit 77; }
    mkdir -p "$T/py"
    protoc -I"$TANDEM_ROOT/proto" -I/usr/include --python_out="$T/py" "$TANDEM_ROOT/proto/csi.proto"
}

# csi_start NAME ARGS...: a plugin process, log $T/NAME.log, socket $T/NAME.sock; NAME is a
# shell word (controller, node_n1) so common.sh's stop_daemon can stop and check it.
csi_start() {
    local name=$1
    shift
    rm -f "$T/$name.sock"
    "$CSI_BIN" --endpoint "unix://$T/$name.sock" "$@" >>"$T/$name.log" 2>&1 &
    local pid=$!
    _PIDS+=("$pid")
    eval "${name}_PID=$pid"
    wait_until 20 "tandem-csi $name to listen" test -S "$T/$name.sock"
}

csi_cluster() {
    repl_ports
    start_node n1 "$P1"
    start_node n2 "$P2"
    start_node n3 "$P3"
    cat >"$T/nodes" <<EON
# node-id  control endpoint              peer address
n1 unix:$T/n1/control.sock 127.0.0.1:$P1
n2 unix:$T/n2/control.sock 127.0.0.1:$P2
n3 unix:$T/n3/control.sock 127.0.0.1:$P3
EON
    mkdir -p "$T/ctl-state"
    csi_start controller --mode controller --node-id controller --nodes "$T/nodes" \
        --state-dir "$T/ctl-state"
}

# Whatever a failed test leaves attached: mounts under $T (deepest first), the loop devices
# and FUSE mounts the node plugins' attachment records name. Registered by csi_node.
csi_cleanup_attachments() {
    local m r dev
    for m in $(grep -o "$T[^ ]*" /proc/self/mounts | sort -r); do umount -l "$m"; done
    for r in "$T"/csi-state-*/attach/*; do
        [ -f "$r" ] || continue
        dev=$(sed -n 's/^device=//p' "$r")
        case "$dev" in /dev/loop*) losetup -d "$dev" ;; /dev/nbd*) nbd-client -d "$dev" ;; esac
    done
    for m in "$T"/csi-state-*/fuse/*; do [ -d "$m" ] && fusermount3 -uz "$m"; done
    return 0
}

csi_node() {
    local n=$1
    [ -n "${_CSI_CLEANUP_SET:-}" ] || { on_exit csi_cleanup_attachments; _CSI_CLEANUP_SET=1; }
    csi_start "node_$n" --mode node --node-id "$n" --tandem-control "$T/$n/control.sock" \
        --state-dir "$T/csi-state-$n"
}

# SIGTERM, a bounded wait for exit 0, no sanitizer report in its log
csi_stop() { stop_daemon "$1"; }

csi_py() {
    local script=$1
    shift
    PYTHONPATH="$T/py:$CSI_LIB" T="$T" TANDEMCTL="$TANDEMCTL" "$CSI_PY" "$script" "$@"
}
