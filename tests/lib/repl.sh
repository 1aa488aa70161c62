# shellcheck shell=bash
# Helpers for replication tests. Source after common.sh. Zones here are separate tandemd
# processes on loopback ports (each test says so); peer timeouts are short so failures are
# detected quickly.
#   repl_ports                      sets P1 P2 P3 (free-ish ports for the peer listeners)
#   start_node NAME PORT [args]     tandemd --listen 127.0.0.1:PORT --zone zone-NAME
#   rstatus NODE VOL                volume status JSON
#   link_state NODE VOL PEER        connection state of PEER as NODE sees it
#   wait_link NODE VOL PEER STATE   bounded wait for that state
#   data_sum NODE VOL               sha256 of NODE's data file
repl_ports() {
    local base=$((21000 + (RANDOM % 1500) * 3))
    P1=$base P2=$((base + 1)) P3=$((base + 2))
}

start_node() {
    local name=$1 port=$2
    shift 2
    start_daemon "$name" --listen "127.0.0.1:$port" --zone "zone-$name" --peer-timeout 3 "$@"
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

# three_nodes VOL SIZE [create args...]: n1 n2 n3 on fresh ports, VOL created on n1 with all
# three as replicas; REPLICAS holds the --replica arguments for further volumes.
three_nodes() {
    local vol=$1 size=$2
    shift 2
    repl_ports
    start_node n1 $P1
    start_node n2 $P2
    start_node n3 $P3
    REPLICAS=(--replica n1@127.0.0.1:$P1 --replica n2@127.0.0.1:$P2 --replica n3@127.0.0.1:$P3)
    ctl n1 volume create "$vol" --size "$size" "${REPLICAS[@]}" "$@" >/dev/null
}
