# shellcheck shell=bash
# Helpers for replication tests. Source after common.sh. Zones are separate tandemd processes,
# on loopback ports, or (after zones_netns) each in a network namespace of its own; peer
# timeouts are short so failures are detected quickly.
#   repl_ports                      sets P1 P2 P3 (free-ish ports for the peer listeners)
#   zones_netns N...                zones n1..nN in network namespaces joined by veth pairs and a
#                                   bridge, if this machine allows it (root, ip netns) and
#                                   TANDEM_ZONES is not "loopback"; sets ZONES=netns or
#                                   ZONES=loopback and says which
#   node_ip NAME                    the address NAME listens on (127.0.0.1 or its zone's)
#   cut_zone NAME / heal_zone NAME  take NAME's zone link down / up (netns only)
#   cut_link A B / heal_link A B    drop / pass the traffic between A and B only (an iptables
#                                   rule in A's namespace; netns only): both still see others
#   start_node NAME PORT [args]     tandemd --listen IP:PORT --zone zone-NAME
#   rstatus NODE VOL                volume status JSON
#   link_state NODE VOL PEER        connection state of PEER as NODE sees it
#   wait_link NODE VOL PEER STATE   bounded wait for that state
#   data_sum NODE VOL               sha256 of NODE's data file
repl_ports() {
    local base=$((21000 + (RANDOM % 1500) * 3))
    P1=$base P2=$((base + 1)) P3=$((base + 2))
}

ZONES=loopback
_ZNS=""

# zones_netns NAME...: one namespace per zone, each with a veth whose other end is on a bridge
# in a switch namespace of its own (nothing on the host changes). 10.231.0.0/24 exists only
# inside these namespaces. Falls back to loopback ports if namespaces cannot be made.
zones_netns() {
    _ZNS=tnd$$
    if [ "${TANDEM_ZONES:-}" = loopback ] || [ "$(id -u)" != 0 ] ||
        ! ip netns add "$_ZNS-sw" 2>/dev/null; then
        ZONES=loopback
        log "zones: loopback ports (network namespaces unavailable here)"
        return 0
    fi
    on_exit "zones_teardown"
    ip -n "$_ZNS-sw" link add br0 type bridge
    ip -n "$_ZNS-sw" link set br0 up
    local i=0 n
    for n in "$@"; do
        i=$((i + 1))
        ip netns add "$_ZNS-$n"
        ip link add "v$_ZNS$i" netns "$_ZNS-$n" type veth peer name "b$i" netns "$_ZNS-sw"
        ip -n "$_ZNS-sw" link set "b$i" master br0 up
        ip -n "$_ZNS-$n" link set lo up
        ip -n "$_ZNS-$n" link set "v$_ZNS$i" name z0
        ip -n "$_ZNS-$n" addr add "10.231.0.$i/24" dev z0
        ip -n "$_ZNS-$n" link set z0 up
        eval "_ZIP_$n=10.231.0.$i"
    done
    ZONES=netns
    log "zones: network namespaces $_ZNS-{$(IFS=,; echo "$*")} on a bridge (10.231.0.0/24)"
}

zones_teardown() {
    local ns
    for ns in $(ip netns list | awk '{print $1}' | grep "^$_ZNS-"); do ip netns del "$ns"; done
}

node_ip() {
    local v="_ZIP_$1"
    if [ "$ZONES" = netns ]; then echo "${!v}"; else echo 127.0.0.1; fi
}

cut_zone() { ip -n "$_ZNS-$1" link set z0 down; }
heal_zone() { ip -n "$_ZNS-$1" link set z0 up; }

_link_rules() { # -I|-D A B
    local b
    b=$(node_ip "$3")
    ip netns exec "$_ZNS-$2" iptables "$1" INPUT -s "$b" -j DROP
    ip netns exec "$_ZNS-$2" iptables "$1" OUTPUT -d "$b" -j DROP
}
cut_link() { _link_rules -I "$1" "$2"; }
heal_link() { _link_rules -D "$1" "$2"; }

start_node() {
    local name=$1 port=$2 ns=""
    shift 2
    [ "$ZONES" = netns ] && ns=$_ZNS-$name
    DAEMON_NETNS=$ns start_daemon "$name" --listen "$(node_ip "$name"):$port" --zone "zone-$name" \
        --peer-timeout 3 "$@"
}

rstatus() { ctl "$1" volume status "$2" --json; }

link_state() {
    rstatus "$1" "$2" | jq -r --arg p "$3" '.replicas[] | select(.node == $p) | .connection'
}

wait_link() { # NODE VOL PEER STATE [TIMEOUT]
    local node=$1 vol=$2 peer=$3 want=$4 t=${5:-20}
    _wl() { [ "$(link_state "$node" "$vol" "$peer")" = "$want" ]; }
    wait_until "$t" "$node to see $peer as $want" _wl
}

# in sync: every other replica Connected with nothing left to resync
wait_in_sync() { # NODE VOL [TIMEOUT]
    local node=$1 vol=$2 t=${3:-30}
    _wis() {
        rstatus "$node" "$vol" | jq -e '[.replicas[] | select(.connection != "local") |
            select(.connection != "Connected" or .out_of_sync_bytes != 0)] | length == 0' >/dev/null
    }
    wait_until "$t" "$vol on $node to be in sync with every replica" _wis
}

data_sum() { sha256sum "$T/$1/volumes/$2/data" | cut -d' ' -f1; }

assert_replicas_identical() { # VOL NODE...
    local vol=$1 first
    shift
    first=$(data_sum "$1" "$vol")
    for n in "$@"; do
        assert_eq "$first" "$(data_sum "$n" "$vol")" "data of $vol on $n vs $1"
    done
}

wait_peer_synced() { # NODE VOL PEER [TIMEOUT]: PEER Connected with nothing left to resync
    local node=$1 vol=$2 peer=$3 t=${4:-30}
    _wps() {
        rstatus "$node" "$vol" | jq -e --arg p "$peer" '.replicas[] | select(.node == $p) |
            .connection == "Connected" and .out_of_sync_bytes == 0' >/dev/null
    }
    wait_until "$t" "$peer to be in sync with $node for $vol" _wps
}

# witness_nodes VOL SIZE: data replicas n1 n2 and witness w (zones as set up before), VOL
# created on n1.
witness_nodes() {
    repl_ports
    start_node n1 $P1
    start_node n2 $P2
    start_node w $P3
    ctl n1 volume create "$1" --size "$2" --replica "n1@$(node_ip n1):$P1" \
        --replica "n2@$(node_ip n2):$P2" --witness "w@$(node_ip w):$P3" >/dev/null
}

# nbd_go_error NODE VOL: the message of NODE's refusal of NBD_OPT_GO for VOL
nbd_go_error() {
    /usr/bin/python3 -c '
import sys; sys.path.insert(0, sys.argv[2])
import struct
from nbdraw import Raw, OPT
c = Raw(sys.argv[1]); c.greeting()
c.option(OPT["GO"], struct.pack(">I", len(sys.argv[3])) + sys.argv[3].encode() + struct.pack(">H", 0))
print(c.reply()[2].decode())' "$T/$1/nbd.sock" "$TANDEM_ROOT/tests/lib" "$2"
}

# three_nodes VOL SIZE [create args...]: n1 n2 n3 on fresh ports, VOL created on n1 with all
# three as replicas; REPLICAS holds the --replica arguments for further volumes.
three_nodes() {
    local vol=$1 size=$2
    shift 2
    repl_ports
    start_node n1 $P1
    start_node n2 $P2
    start_node n3 $P3
    REPLICAS=(--replica "n1@$(node_ip n1):$P1" --replica "n2@$(node_ip n2):$P2"
        --replica "n3@$(node_ip n3):$P3")
    ctl n1 volume create "$vol" --size "$size" "${REPLICAS[@]}" "$@" >/dev/null
}
