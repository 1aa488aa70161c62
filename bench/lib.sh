# Shared helpers for benchmarks: CPU pinning, fio runs parsed from JSON, and the table printer.
# Pinning: on 2 vCPUs the server runs on CPU 1 and the load generator on CPU 0, the same for
# Tandem and for every peer, so ratios compare like with like (waking a process on the other
# CPU costs ~50 us here; everything pays it equally).
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
BENCH_RUNTIME=${BENCH_RUNTIME:-8}
BENCH_DIR=${BENCH_DIR:-/var/tmp/tandem-bench}

# fio_json OUT.json fio-args...: runs fio pinned to the client CPU.
fio_json() {
    local out=$1
    shift
    taskset -c "$CLIENT_CPU" fio --output-format=json --output="$out" --time_based \
        --runtime="$BENCH_RUNTIME" --ramp_time=1 --group_reporting "$@" >/dev/null
}

# fio_summary RUN.json... -> "iops MBps p50_us p99_us": the mean over the runs given (one per
# repetition) of each figure, reads and writes summed.
fio_summary() {
    /usr/bin/python3 - "$@" <<'PY'
import json, sys
rows = []
for path in sys.argv[1:]:
    j = json.load(open(path))["jobs"][0]
    iops = bw = p50 = p99 = 0.0
    for d in ("read", "write"):
        s = j[d]
        if s["io_bytes"] == 0:
            continue
        iops += s["iops"]
        bw += s["bw_bytes"] / 1e6
        pct = s["clat_ns"].get("percentile", {})
        p50 = max(p50, pct.get("50.000000", 0) / 1000)
        p99 = max(p99, pct.get("99.000000", 0) / 1000)
    rows.append((iops, bw, p50, p99))
m = [sum(r[k] for r in rows) / len(rows) for k in range(4)]
print("%.0f %.1f %.0f %.0f" % tuple(m))
PY
}

wait_socket() { # wait_socket PATH
    for _ in $(seq 400); do [ -S "$1" ] && return 0; sleep 0.05; done
    echo "socket $1 did not appear" >&2
    return 1
}

# swift_bench_start NAME [DATA_PARENT]: starts the tests' loopback Swift + s3api (tests/s3/setup)
# for a benchmark, with a scratch directory $DATA under DATA_PARENT (default $BENCH_DATA or
# /var/tmp); both go at exit. Exports the S3_* settings and the credentials of Swift's tempauth
# user; aws never sees AWS_CA_BUNDLE (it chokes on it). Needs $ROOT.
swift_bench_start() {
    export SUITE_ENV
    SUITE_ENV=$(mktemp "/tmp/tandem-bench-$1.XXXXXX.env")
    DATA=$(mktemp -d "${2:-${BENCH_DATA:-/var/tmp}}/tandem-bench-$1.XXXXXX")
    trap swift_bench_stop EXIT
    "$ROOT/tests/s3/setup" >"$DATA/setup.log" 2>&1 || { cat "$DATA/setup.log"; exit 1; }
    set -a
    . "$SUITE_ENV"
    set +a
    export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
    export AWS_DEFAULT_REGION=$S3_REGION AWS_REGION=$S3_REGION
    unset AWS_CA_BUNDLE
}
swift_bench_stop() {
    "$ROOT/tests/s3/teardown" >/dev/null 2>&1 || true
    rm -rf "$DATA" "$SUITE_ENV"
}
