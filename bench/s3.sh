#!/usr/bin/env bash
# S3 client benchmark: 1 GiB as 64 objects of 16 MiB and as one multipart object, uploaded and
# downloaded with tandem-s3 and with Debian's awscli 2 (`aws s3 cp [--recursive]`) against the
# same loopback Swift, in the same run, with the same parallelism (10, aws's default).
# Prints MiB/s and the ratio tandem/aws. Standalone: run as root after `make` (it starts and
# stops its own Swift via tests/s3/setup and teardown). SIZE_MIB=... shrinks it for a smoke run;
# TANDEM_S3_ARGS="--part-size 8M --hash-threads -1" adds options to every tandem-s3 call (A/B).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TANDEM_BIN_RELEASE:-$ROOT/build}/tandem-s3
[ -x "$BIN" ] || { echo "bench/s3.sh: build $BIN first (make)"; exit 1; }
SIZE_MIB=${SIZE_MIB:-1024}
PAR=${PARALLEL:-10}
. "$ROOT/bench/lib.sh"
swift_bench_start s3 /tmp
read -r -a EXTRA <<<"${TANDEM_S3_ARGS:-}"
ours() { "$BIN" --endpoint "$S3_ENDPOINT" --parallel "$PAR" "${EXTRA[@]}" "$@"; }
theirs() { /usr/bin/aws --endpoint-url "$S3_ENDPOINT" --only-show-errors "$@"; }
theirs configure set default.s3.max_concurrent_requests "$PAR" 2>/dev/null || true

mkdir -p "$DATA/many" "$DATA/back-ours" "$DATA/back-aws"
n=$((SIZE_MIB / 16))
for i in $(seq -w 1 "$n"); do head -c 16M /dev/urandom >"$DATA/many/obj$i"; done
cat "$DATA"/many/obj* >"$DATA/big"
ours mb s3://bench >/dev/null

t() { # seconds taken by "$@"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
row() { # label ours_s aws_s
    awk -v l="$1" -v m="$SIZE_MIB" -v o="$2" -v a="$3" \
        'BEGIN { printf "%-34s %10.1f %10.1f %8.2fx\n", l, m / o, m / a, a / o }'
}
u1=$(t ours put-many "$DATA/many" s3://bench/many-ours/)
a1=$(t theirs s3 cp --recursive "$DATA/many" s3://bench/many-aws/)
d1=$(t ours get-many s3://bench/many-ours/ "$DATA/back-ours")
b1=$(t theirs s3 cp --recursive s3://bench/many-aws/ "$DATA/back-aws")
for f in "$DATA"/many/*; do cmp -s "$f" "$DATA/back-ours/$(basename "$f")" || { echo "bench: $f differs"; exit 1; }; done
rm -rf "$DATA/back-ours" "$DATA/back-aws"
u2=$(t ours put "$DATA/big" s3://bench/big-ours)
a2=$(t theirs s3 cp "$DATA/big" s3://bench/big-aws)
d2=$(t ours get s3://bench/big-ours "$DATA/big.ours")
b2=$(t theirs s3 cp s3://bench/big-aws "$DATA/big.aws")
cmp -s "$DATA/big" "$DATA/big.ours" || { echo "bench: multipart download differs"; exit 1; }

echo "S3 client vs aws s3 cp, ${SIZE_MIB} MiB, loopback Swift s3api, parallel $PAR (MiB/s)"
printf '%-34s %10s %10s %9s\n' "case" "tandem-s3" "aws" "ratio"
row "upload $n x 16 MiB" "$u1" "$a1"
row "download $n x 16 MiB" "$d1" "$b1"
row "upload 1 object (multipart)" "$u2" "$a2"
row "download 1 object (ranged)" "$d2" "$b2"
