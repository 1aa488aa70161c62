# Sourced by every tests/ship/test_*: the S3 suite's helpers (Swift endpoint, credentials,
# awsc, new_bucket, start_py, $WORK with cleanup), plus the shipper's tools and helpers that
# make each test run once against an s3:// store and once against a file:// store.
. "$(dirname "${BASH_SOURCE[0]}")/../../s3/lib/common.sh"
SHIPLIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SF=$TANDEM_BIN/tools/ship_file
TR=$TANDEM_BIN/tandem-restore
TC=$TANDEM_BIN/tandemctl
for b in "$SF" "$TR" "$TC"; do [ -x "$b" ] || fail "missing $b (make asan)"; done
BUCKET=$(new_bucket ship)

# store_url KIND NAME: a fresh store of this test, s3://BUCKET/NAME or file://$WORK/NAME.
store_url() {
    case $1 in
    s3) echo "s3://$BUCKET/$2" ;;
    file) echo "file://$WORK/$2" ;;
    *) fail "store kind $1" ;;
    esac
}
# Options that reach the store: the Swift endpoint for s3:// stores.
ep() { case $1 in s3://*) echo "--endpoint $S3_ENDPOINT" ;; esac; }
# ship_img URL VOLUME UUID SNAP SEQ IMAGE [ship_file options...]: prints the counters (JSON).
ship_img() {
    local url=$1 vol=$2 uuid=$3 snap=$4 seq=$5 img=$6
    shift 6
    # shellcheck disable=SC2046
    "$SF" $(ep "$url") --to "$url" --volume "$vol" --uuid "$uuid" --snapshot "$snap" \
        --seq "$seq" "$@" "$img"
}
# restore_to URL VOLUME SNAP PATH [options...]
restore_to() {
    local url=$1 vol=$2 snap=$3 path=$4
    shift 4
    # shellcheck disable=SC2046
    "$TR" restore $(ep "$url") --from "$url" --volume "$vol" --snapshot "$snap" --to "$path" \
        --no-progress "$@"
}
verify_snap() {
    local url=$1 vol=$2 snap=$3
    shift 3
    # shellcheck disable=SC2046
    "$TR" verify $(ep "$url") --from "$url" --volume "$vol" --snapshot "$snap" --no-progress "$@"
}
list_json() {
    local url=$1
    shift
    # shellcheck disable=SC2046
    "$TR" list $(ep "$url") --from "$url" --json "$@"
}
# jget JSON KEY: one field of a counters line.
jget() { echo "$1" | jq -r ".$2"; }
# objects URL SUBDIR: "count bytes" of the objects under SUBDIR/ (packs, indexes...), read
# straight from the store: aws s3api for s3:// (an independent reader), find for file://.
objects() {
    local url=$1 sub=$2
    case $url in
    s3://*)
        local b=${url#s3://}
        local p=${b#*/}
        b=${b%%/*}
        awsc s3api list-objects-v2 --bucket "$b" --prefix "$p/$sub/" \
            --query '[length(Contents || `[]`), sum(Contents[].Size || `[0]`)]' --output text |
            awk '{ print $1, $2 }'
        ;;
    file://*)
        local d=${url#file://}/$sub
        [ -d "$d" ] || { echo "0 0"; return; }
        find "$d" -type f ! -name '.*' -printf '%s\n' | awk '{ n++; s += $1 } END { print n + 0, s + 0 }'
        ;;
    esac
}
# manifest_exists URL VOLUME SNAP: 0 when the manifest object is in the store.
manifest_exists() {
    local url=$1 key="volumes/$2/snapshots/$3.manifest"
    case $url in
    s3://*)
        local b=${url#s3://}
        local p=${b#*/}
        b=${b%%/*}
        awsc s3api head-object --bucket "$b" --key "$p/$key" >/dev/null 2>&1
        ;;
    file://*) [ -f "${url#file://}/$key" ] ;;
    esac
}
# mkimage PATH MIB: an image of MIB MiB: random data in most 4 MiB stripes, every fourth
# stripe left zero (holes), deterministic per path name.
mkimage() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import random, sys
path, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(path)
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for s in range(0, mib, 4):
        if s % 16 == 12:
            continue
        f.seek(s << 20)
        f.write(rng.randbytes(min(4, mib - s) << 20))
PY
}
# scatter IMAGE K SEED: K 4 KiB writes of random data at distinct 64 KiB chunks (random 4 KiB
# offset inside each), printed comma-separated.
scatter() {
    /usr/bin/python3 - "$@" <<'PY'
import os, random, sys
path, k, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
size = os.path.getsize(path)
chunks = rng.sample(range(size // 65536), k)
offs = []
with open(path, "r+b") as f:
    for c in chunks:
        off = c * 65536 + rng.randrange(16) * 4096
        f.seek(off)
        f.write(rng.randbytes(4096))
        offs.append(off)
print(",".join(map(str, offs)))
PY
}
# wait_for TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds (bounded).
wait_for() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}
