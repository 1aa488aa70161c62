# Sourced by every tests/s3/test_*: tools, credentials for Swift's tempauth user, helpers.
set -euo pipefail
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${S3_ENDPOINT:?run under tests/run.sh (tests/s3/setup exports S3_ENDPOINT)}"
T=${TANDEM_BIN:?}/tandem-s3
[ -x "$T" ] || { echo "missing $T (make asan)"; exit 1; }
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_DEFAULT_REGION=$S3_REGION AWS_REGION=$S3_REGION
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN \
    AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
    AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 2>/dev/null || true
WORK=$(mktemp -d "${S3_STATE:-/tmp}/test.XXXXXX")
# Helpers are started inside $(...) subshells, so their pids are kept in a file, not a variable.
cleanup() {
    local p
    if [ -f "$WORK/pids" ]; then
        while read -r p; do kill "$p" 2>/dev/null || true; done <"$WORK/pids"
        while read -r p; do
            for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        done <"$WORK/pids"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

s3() { "$T" --endpoint "$S3_ENDPOINT" "$@"; }
# Debian's awscli 2, never the pyenv one; it must not see AWS_CA_BUNDLE.
awsc() { env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_ENDPOINT" --no-cli-pager "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# new_bucket NAME: a fresh bucket for this test (names are per test, so tests never share state).
new_bucket() {
    local b="$1-$RANDOM$RANDOM"
    s3 mb "s3://$b" >&2
    echo "$b"
}
# start_py SCRIPT ARGS...: runs a loopback helper that writes its port to --port-file; waits for
# it (bounded) and prints the port.
start_py() {
    local pf="$WORK/port.$RANDOM"
    /usr/bin/python3 "$@" --port-file "$pf" >>"$WORK/helpers.log" 2>&1 &
    local pid=$! i
    echo "$pid" >>"$WORK/pids"
    for i in $(seq 100); do
        [ -s "$pf" ] && { cat "$pf"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/helpers.log" >&2
    fail "helper $1 did not start"
}
