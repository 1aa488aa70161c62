#!/usr/bin/env bash
# Mutual TLS between peers (--tls-cert/--tls-key/--tls-ca, TLS 1.3): a three-node cluster whose
# certificates come from one throwaway CA replicates bytes correctly; and peers that cannot
# prove themselves are refused before any frame is read, each with a log line: a tandemd whose
# certificate is from another CA, a TLS client with no certificate, a client with a
# certificate from another CA, a plain-TCP tandemd, and a node presenting another node's
# certificate.
# Zones: tandemd processes on loopback ports.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repl.sh"
OPENSSL=/usr/bin/openssl
mk_ca() { # mk_ca NAME
    $OPENSSL req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=tandem test $1" -keyout "$T/$1.key" -out "$T/$1.crt" 2>/dev/null
}
mk_cert() { # mk_cert CA NODE: $T/NODE.{key,crt}, CN and DNS SAN = NODE
    $OPENSSL req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
        -keyout "$T/$2.key" -out "$T/$2.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s\n' "$2" >"$T/$2.ext"
    $OPENSSL x509 -req -in "$T/$2.csr" -CA "$T/$1.crt" -CAkey "$T/$1.key" -CAcreateserial \
        -days 2 -extfile "$T/$2.ext" -out "$T/$2.crt" 2>/dev/null
}
tls_args() { echo --tls-cert "$T/$1.crt" --tls-key "$T/$1.key" --tls-ca "$T/$2.crt"; }
mk_ca ca1
mk_ca ca2
for n in n1 n2 n3; do mk_cert ca1 $n; done
mk_cert ca2 n4

repl_ports
start_node n1 $P1 $(tls_args n1 ca1)
start_node n2 $P2 $(tls_args n2 ca1)
start_node n3 $P3 $(tls_args n3 ca1)
ctl n1 volume create r --size 32M --replica n1@127.0.0.1:$P1 --replica n2@127.0.0.1:$P2 \
    --replica n3@127.0.0.1:$P3 >/dev/null
grep -q "peer n2 (127.0.0.1:$P2, zone zone-n2) connected, TLSv1.3" "$T/n1.log" ||
    fail "n1 did not report a TLS 1.3 connection to n2"
rand_file "$T/img" 8
nbdcopy "$T/img" "$(nbd_uri n1 r)"
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x5a 20M 3M" -c flush >/dev/null
wait_in_sync n1 r
assert_replicas_identical r n1 n2 n3
cmp -n $((8 << 20)) "$T/img" "$T/n3/volumes/r/data" || fail "n3 does not hold the bytes written"

refused() { # refused NODE NEEDLE: NODE logs a refusal whose reason matches NEEDLE
    _rf_log=$T/$1.log _rf_needle=$2
    _rf() { grep "refused before any frame was read" "$_rf_log" | grep -q "$_rf_needle"; }
    wait_until 10 "$1 to log a refusal with '$2'" _rf
}

# a tandemd with a certificate from another CA (it trusts its own CA only), and a plain-TCP
# tandemd dialling in (its HELLO is not TLS, and is never read as a frame); both creates run
# at once and fail after the create timeout
P4=$((P3 + 3000)) P5=$((P3 + 3001))
start_node n4 $P4 $(tls_args n4 ca2)
start_node n0 $P5
ctl n1 volume create bad --size 8M --replica n1@127.0.0.1:$P1 --replica n4@127.0.0.1:$P4 \
    >"$T/bad.out" 2>&1 &
bad=$!
ctl n0 volume create plain --size 8M --replica n0@127.0.0.1:$P5 --replica n1@127.0.0.1:$P1 \
    >"$T/plain.out" 2>&1 &
plain=$!
refused n1 "peer n4 .*TLS handshake failed: peer certificate: "
refused n1 "inbound from 127.0.0.1.*TLS handshake failed: .*wrong version number"

# TLS clients at n1's listener: no certificate, and one from the other CA
echo | timeout 10 $OPENSSL s_client -connect 127.0.0.1:$P1 -tls1_3 -CAfile "$T/ca1.crt" \
    >"$T/s_client1.out" 2>&1 || true
refused n1 "inbound from 127.0.0.1.*did not return a certificate"
echo | timeout 10 $OPENSSL s_client -connect 127.0.0.1:$P1 -tls1_3 -CAfile "$T/ca1.crt" \
    -cert "$T/n4.crt" -key "$T/n4.key" >"$T/s_client2.out" 2>&1 || true
refused n1 "inbound from 127.0.0.1.*TLS handshake failed: peer certificate: "

wait $bad && fail "created a volume on an untrusted peer: $(cat "$T/bad.out")"
assert_contains "$(cat "$T/bad.out")" "no answer from n4" "create's error"
wait $plain && fail "a plain peer created a volume on n1: $(cat "$T/plain.out")"
stop_daemon n4
stop_daemon n0

# a node holding a valid certificate issued for another node
stop_daemon n3
cp "$T/n2.crt" "$T/n3x.crt"
cp "$T/n2.key" "$T/n3x.key"
start_node n3 $P3 $(tls_args n3x ca1)
refused n1 "its certificate is not issued for node n3"
assert_eq Disconnected "$(link_state n1 r n3)" "impostor n3"
assert_eq r "$(ctl n1 volume list --json | jq -r '[.[].name] | join(" ")')" "volumes on n1"
# the cluster still works with the two genuine nodes
qemu-io -f raw "$(nbd_uri n1 r)" -c "write -P 0x5b 1M 1M" -c flush >/dev/null
wait_peer_synced n1 r n2
assert_replicas_identical r n1 n2
for n in n1 n2 n3; do stop_daemon $n; done
