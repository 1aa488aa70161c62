#!/usr/bin/env bash
# Every tandemctl misuse gets one clear line on stderr and a non-zero exit; nothing changes.
. "$(dirname "$0")/../lib/common.sh"
expect_err() { # expect_err EXIT_CODE NEEDLE cmd...
    local want=$1 needle=$2 rc=0 out
    shift 2
    out=$("$@" 2>&1) || rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc (want $want): $out"
    assert_contains "$out" "$needle" "'$*'"
    [ "$(grep -c . <<<"$out")" -le 12 ] || fail "'$*' printed more than a short error: $out"
}
expect_err 3 "is tandemd running?" "$TANDEMCTL" --control "$T/none.sock" volume list
expect_err 2 "no control socket" env -u TANDEM_CONTROL "$TANDEMCTL" volume list
start_daemon n1
export TANDEM_CONTROL=$T/n1/control.sock
expect_err 2 "invalid size" "$TANDEMCTL" volume create a --size 12Q
expect_err 2 "invalid size" "$TANDEMCTL" volume create a --size -5
expect_err 2 "needs --size" "$TANDEMCTL" volume create a
expect_err 1 "multiple of 4096" "$TANDEMCTL" volume create a --size 1000
expect_err 1 "invalid volume name" "$TANDEMCTL" volume create ../etc --size 1M
expect_err 2 "unknown command" "$TANDEMCTL" frobnicate now
"$TANDEMCTL" volume create a --size 1M >/dev/null
expect_err 1 "already exists" "$TANDEMCTL" volume create a --size 2M
expect_err 1 "no volume named b" "$TANDEMCTL" volume status b
expect_err 1 "no volume named b" "$TANDEMCTL" volume delete b
# the control API itself refuses malformed requests
resp=$(printf '{"op":42}\nnot json\n{"op":"volume.create","name":"x","size":"big"}\n' |
    /usr/bin/python3 -c '
import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR); print(s.makefile().read())' "$TANDEM_CONTROL")
assert_eq 3 "$(grep -c '"ok":false' <<<"$resp")" "malformed control requests refused"
assert_contains "$resp" "not a JSON object" "parse error message"
# listing shows exactly the one good volume, with size
assert_eq "a 1048576 ready" "$("$TANDEMCTL" volume list --json | jq -r '.[] | "\(.name) \(.size) \(.state)"')" "list"
"$TANDEMCTL" volume delete a >/dev/null
assert_eq 0 "$("$TANDEMCTL" volume list --json | jq length)" "list after delete"
[ ! -e "$T/n1/volumes/a" ] || fail "deleted volume's directory remains"
stop_daemon n1
