#!/usr/bin/env bash
# Installs the Debian packages the build, the tests, the demo and the benchmarks need, and only
# those that are missing, so a second run costs a few dpkg queries. Run as root on Debian 12.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    liburing-dev libaio-dev libssl-dev libcurl4-openssl-dev libjson-c-dev libzstd-dev
    qemu-utils libnbd-bin nbdkit fio python3-libnbd nbd-client fuse3
    iproute2 iptables util-linux e2fsprogs jq
    libxml2-dev clang-format cppcheck
)
# Extra package sets added by later suites (S3 server, gRPC): one name per line in packages.d/*.list.
for f in "$(dirname "$0")"/packages.d/*.list; do
    [ -e "$f" ] || continue
    while read -r p _; do
        case "$p" in ''|'#'*) continue ;; esac
        PACKAGES+=("$p")
    done <"$f"
done

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/tandem-apt.log 2>&1; then
    apt-get update -q >>/tmp/tandem-apt.log 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/tandem-apt.log 2>&1 || {
        tail -20 /tmp/tandem-apt.log >&2
        echo "install-deps: apt-get failed (log: /tmp/tandem-apt.log)" >&2
        exit 1
    }
fi
