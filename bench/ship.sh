#!/usr/bin/env bash
# Snapshot shipping benchmark, against Debian's awscli 2 (`aws s3 cp` of the raw image) on the
# same loopback Swift s3api, in one run:
#   - full ship of a 2 GiB image holding 1 GiB of random data (in 16 MiB stripes, zeros between)
#     vs `aws s3 cp` uploading the raw image;
#   - incremental ship after 1,000 scattered 4 KiB random writes (bytes of chunk data and objects
#     written, against the targets: <= 128 KiB per write, <= 2 + MB/16 objects);
#   - restore of the incremental snapshot vs `aws s3 cp` downloading the raw image.
# Both restores are checked byte for byte against the image.
# Pinning: the Swift servers run on CPU $SERVER_CPU, the client under test (ship_file,
# tandem-restore, aws) on CPU $CLIENT_CPU, the same for both (bench/lib.sh); PIN=0 turns it off.
# The shipper is driven by build/tools/ship_file (the daemon's snapshot ship calls the same
# ship_run). SIZE_MIB=... shrinks the image for a smoke run (the random half scales with it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
make -s -C "$ROOT" build/tools/ship_file build/tandem-restore >/dev/null
SF=$ROOT/build/tools/ship_file
TR=$ROOT/build/tandem-restore
SIZE_MIB=${SIZE_MIB:-2048}
WRITES=${WRITES:-1000}
PIN=${PIN:-1}
swift_bench_start ship
pin() { if [ "$PIN" = 1 ]; then taskset -c "$CLIENT_CPU" "$@"; else "$@"; fi; }
if [ "$PIN" = 1 ]; then
    for p in $S3_PIDS; do taskset -a -cp "$SERVER_CPU" "$p" >/dev/null; done
fi
aws_() { pin /usr/bin/aws --endpoint-url "$S3_ENDPOINT" --only-show-errors "$@"; }
/usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://bench >/dev/null
U=s3://bench/store

IMG=$DATA/vol.img
truncate -s "${SIZE_MIB}M" "$IMG"
for ((s = 0; s < SIZE_MIB; s += 32)); do # random data in the first 16 MiB of every 32
    head -c 16M /dev/urandom | dd of="$IMG" bs=1M seek="$s" conv=notrunc status=none
done

t() { # seconds taken by "$@" (output to $DATA/last.out)
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >"$DATA/last.out"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
objs() { # count and bytes of objects under the store prefix (aws, an independent reader)
    /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3api list-objects-v2 --bucket bench --prefix "store/$1" \
        --query '[length(Contents || `[]`), sum(Contents[].Size || `[0]`)]' --output text
}
ship() { pin "$SF" --endpoint "$S3_ENDPOINT" --to "$U" --volume bench --uuid bench-uuid "$@" "$IMG"; }

# ---- aws s3 cp, up and down ----
aup=$(t aws_ s3 cp "$IMG" s3://bench/raw.img)
adown=$(t aws_ s3 cp s3://bench/raw.img "$DATA/aws.img")
cmp -s "$IMG" "$DATA/aws.img" || { echo "bench: aws download differs"; exit 1; }
rm -f "$DATA/aws.img"

# ---- full ship ----
sfull=$(t ship --snapshot full --seq 1)
full_json=$(cat "$DATA/last.out")
read -r fobj fbytes <<<"$(objs "")"

# ---- incremental after scattered writes ----
offs=$(/usr/bin/python3 - "$IMG" "$WRITES" <<'PY'
import os, random, sys
path, k = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
size = os.path.getsize(path)
blocks = rng.sample(range(size // 4096), k)
with open(path, "r+b") as f:
    for b in blocks:
        f.seek(b * 4096)
        f.write(os.urandom(4096))
print(",".join(str(b * 4096) for b in blocks))
PY
)
read -r p0 pb0 <<<"$(objs packs/)"
sinc=$(t ship --snapshot inc --seq 2 --changed "$offs")
inc_json=$(cat "$DATA/last.out")
read -r p1 pb1 <<<"$(objs packs/)"
read -r iobj ibytes <<<"$(objs "")"

# ---- restore ----
srest=$(t pin "$TR" restore --endpoint "$S3_ENDPOINT" --from "$U" --volume bench --snapshot inc \
    --to "$DATA/restored.img" --no-progress)
rest_line=$(cat "$DATA/last.out")
cmp -s "$IMG" "$DATA/restored.img" || { echo "bench: restore differs"; exit 1; }

jq_() { echo "$1" | jq -r ".$2"; }
inc_chunk_bytes=$((pb1 - pb0))
inc_objects=$((iobj - fobj))
echo "Snapshot shipping vs aws s3 cp, ${SIZE_MIB} MiB image ($((SIZE_MIB / 2)) MiB random), loopback Swift s3api"
echo "pinning: $([ "$PIN" = 1 ] && echo "Swift on CPU $SERVER_CPU, client on CPU $CLIENT_CPU" || echo none); $(nproc) vCPUs"
printf '%-40s %10s %10s %8s\n' "case" "tandem" "aws" "ratio"
awk -v m="$SIZE_MIB" -v o="$sfull" -v a="$aup" 'BEGIN { printf "%-40s %10.1f %10.1f %7.2fx\n", "full ship vs aws upload (MiB/s of image)", m / o, m / a, a / o }'
awk -v m="$SIZE_MIB" -v o="$srest" -v a="$adown" 'BEGIN { printf "%-40s %10.1f %10.1f %7.2fx\n", "restore vs aws download (MiB/s of image)", m / o, m / a, a / o }'
echo
printf '%-40s %s\n' "full ship: objects, bytes written" "$fobj objects, $fbytes bytes ($(jq_ "$full_json" chunks_new) chunks) in ${sfull}s"
printf '%-40s %s\n' "aws: objects, bytes written" "1 object, $((SIZE_MIB << 20)) bytes in ${aup}s"
awk -v w="$WRITES" -v b="$inc_chunk_bytes" -v n="$inc_objects" -v s="$sinc" 'BEGIN {
    mb = b / 1e6
    printf "%-40s %d writes: %d pack bytes (%.1f KiB per write; target <= 128), %d objects (target <= %.1f), %.2fs\n",
        "incremental after scattered 4 KiB writes", w, b, b / w / 1024, n, 2 + mb / 16, s }'
echo "incremental counters: $inc_json"
echo "restore: $rest_line"
