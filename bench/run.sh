#!/usr/bin/env bash
# `make bench`: every benchmark, one after the other, each printing its own table.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# machine: $(nproc) vCPUs, $(uname -r), $(date -u +%FT%TZ)"
bench/nbd.sh
for b in bench/s3.sh bench/repl.sh bench/ship.sh; do
    [ -x "$b" ] && "$b"
done
exit 0
