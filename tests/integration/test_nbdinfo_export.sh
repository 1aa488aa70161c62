#!/usr/bin/env bash
# nbdinfo sees exactly what tandemd advertises: size, flags, block sizes, the export list, and
# base:allocation extents that follow writes, trims and zeroing.
. "$(dirname "$0")/../lib/common.sh"
start_daemon n1
ctl n1 volume create alpha --size 96M >/dev/null
ctl n1 volume create beta --size 1G >/dev/null
J=$(nbdinfo --json "$(nbd_uri n1 alpha)")
py() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin)['exports'][0]; print($1)" <<<"$J"; }
assert_eq 100663296 "$(py 'd["export-size"]')" "export size"
assert_eq "1 4096 33554432" "$(py '" ".join(str(d[k]) for k in ("block_size_minimum","block_size_preferred","block_size_maximum"))')" "block sizes"
for f in can_flush can_fua can_trim can_zero can_fast_zero can_multi_conn can_df; do
    assert_eq True "$(py "d['$f']")" "$f"
done
assert_eq False "$(py 'd["is_read_only"]')" "read-only flag"
assert_eq "base:allocation" "$(py '",".join(d["contexts"])')" "meta contexts"

names=$(nbdinfo --list --json "nbd+unix:///?socket=$T/n1/nbd.sock" |
    /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(e["export-name"] for e in json.load(sys.stdin)["exports"])))')
assert_eq "alpha beta" "$names" "export list"

# extents: fresh volume is one hole; data appears where written; trim makes a hole again
U=$(nbd_uri n1 alpha)
assert_eq "0 100663296 3" "$(nbdinfo --map "$U" | awk '{print $1, $2, $3}')" "fresh map"
qemu-io -f raw "$U" -c "write -P 7 4M 1M" -c "write -P 8 10M 2M" -c "discard 10M 1M" >/dev/null
map=$(nbdinfo --map "$U" | awk '{print $1, $2, $3}' | tr '\n' ';')
assert_eq "0 4194304 3;4194304 1048576 0;5242880 6291456 3;11534336 1048576 0;12582912 88080384 3;" "$map" "map after writes"

# an unknown export is refused (the message text is checked by test_malformed_input)
if out=$(nbdinfo "$(nbd_uri n1 nosuch)" 2>&1); then fail "unknown export was served"; fi
assert_contains "$out" "nosuch" "unknown export error"
stop_daemon n1
