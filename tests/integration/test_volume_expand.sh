#!/usr/bin/env bash
# volume expand grows a volume online: the bytes already there stay, a new connection sees the
# new size and can write at the new end, the size survives a restart, growing to the same size
# is a no-op, shrinking and bad sizes are refused. A snapshot taken before keeps its old size
# and content, and the next snapshot covers the grown part.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create v --size 32M >/dev/null
U=$(nbd_uri n1 v)
rand_file "$T/a.img" 32
nbdcopy "$T/a.img" "$U"
ctl n1 snapshot create v before >/dev/null
h_before=$(sha256sum <"$T/a.img" | cut -d' ' -f1)

out=$(ctl n1 volume expand v --size 48M)
assert_contains "$out" "volume v is now 48M" "expand output"
assert_eq 50331648 "$(nbdinfo --size "$U")" "size a new client sees"
qemu-io -f raw "$U" -c "read -P 0 32M 16M" -c "write -P 0x3c 47M 1M" -c flush >/dev/null ||
    fail "the grown part does not read as zeroes or cannot be written"
nbdcopy "$U" "$T/b.img"
cmp -n $((32 << 20)) "$T/a.img" "$T/b.img" || fail "expanding changed existing bytes"

ctl n1 volume expand v --size 48M >/dev/null || fail "growing to the same size is not a no-op"
expect_refusal() { # NEEDLE args...
    local needle=$1
    shift
    ctl n1 volume expand v "$@" 2>"$T/err" && fail "volume expand $* succeeded"
    assert_contains "$(cat "$T/err")" "$needle" "volume expand $*"
}
expect_refusal "shrinking is not supported" --size 16M
expect_refusal "not a multiple" --size 50000000
ctl n1 volume expand nope --size 64M 2>"$T/err" && fail "expanding an unknown volume succeeded"
assert_contains "$(cat "$T/err")" "no volume named" "unknown volume"

rm -f "$T/s.img"
ctl n1 snapshot export v before --to "$T/s.img" --wait >/dev/null
assert_eq 33554432 "$(stat -c %s "$T/s.img")" "the old snapshot keeps its size"
assert_eq "$h_before" "$(sha256sum <"$T/s.img" | cut -d' ' -f1)" "the old snapshot keeps its bytes"
ctl n1 snapshot create v after >/dev/null
rm -f "$T/s2.img"
ctl n1 snapshot export v after --to "$T/s2.img" --wait >/dev/null
cmp "$T/b.img" "$T/s2.img" || fail "a snapshot after the expansion differs from the volume"

stop_daemon n1
start_daemon n1
assert_eq 50331648 "$(ctl n1 volume status v --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" "size after a restart"
qemu-io -f raw "$(nbd_uri n1 v)" -c "read -P 0x3c 47M 1M" >/dev/null || fail "grown part lost on restart"
stop_daemon n1
