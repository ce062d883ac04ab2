#!/usr/bin/env bash
# Supervision benchmark: stockade beside supervisord, runit and s6, in one run.
#
#   bench/supervise/run.sh                 # everything (~8 min on 2 cores)
#   N=100 KILLS=10 IDLE=10 bench/supervise/run.sh   # a quicker pass
#   SANDBOX_BENCH=0 bench/supervise/run.sh           # skip the sandbox spawn bench
#   ONLY=stockade,runit bench/supervise/run.sh
#   BUILD=0 bench/supervise/run.sh                   # use the existing release binary
#
# Needs root (cgroups, apt). Installs the peers by package name if missing,
# starts nothing as a service, builds stockade in release, optionally runs the
# sandbox spawn benchmark (for the cgroup-join cost), then bench.py. Prints one
# markdown table; raw samples go to bench/supervise/results/ (gitignored).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"
mkdir -p "$results"
stamp="$(date +%Y%m%dT%H%M%S)"

N="${N:-500}"
KILLS="${KILLS:-20}"
IDLE="${IDLE:-30}"
ONLY="${ONLY:-stockade,supervisord,runit,s6}"
SANDBOX_BENCH="${SANDBOX_BENCH:-1}"
# BUILD=0 uses the existing target/release/stockade (the shared tree may not
# compile mid-edit); the JSON records the binary's mtime either way.
BUILD="${BUILD:-1}"
# e.g. MONITOR_INTERVAL=1h: stockade's [monitor] interval (default: the spec default).
MONITOR_INTERVAL="${MONITOR_INTERVAL:-}"

if [[ $EUID -ne 0 ]]; then
    echo "run.sh: needs root (cgroup boxes for stockade, apt-get for the peers)" >&2
    exit 2
fi

install_peers() {
    local missing=0
    for bin in supervisord runsvdir s6-svscan s6-svscanctl; do
        command -v "$bin" >/dev/null || missing=1
    done
    [[ $missing -eq 0 ]] && return 0

    # Debian's maintainer scripts would start supervisor through invoke-rc.d;
    # policy-rc.d exit 101 forbids that. Only add one if the host has none.
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    echo "run.sh: installing supervisor runit s6" >&2
    timeout 300 apt-get update -qq
    # --no-install-recommends: runit recommends runit-init, which replaces init.
    DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y -qq --no-install-recommends supervisor runit s6 >&2
    [[ $own_policy -eq 1 ]] && rm -f /usr/sbin/policy-rc.d

    # The packages enable boot units; the benchmark starts every peer by hand.
    if command -v systemctl >/dev/null; then
        systemctl disable supervisor.service runit.service >/dev/null 2>&1 || true
    fi
}

install_peers

if [[ "$BUILD" == "1" ]]; then
    echo "run.sh: building stockade (release)" >&2
    (cd "$repo" && timeout 1800 cargo build --release -q -p stockade-cli)
fi
if [[ ! -x "$repo/target/release/stockade" ]]; then
    echo "run.sh: no $repo/target/release/stockade; run with BUILD=1" >&2
    exit 2
fi

sandbox_out=""
if [[ "$SANDBOX_BENCH" == "1" ]]; then
    sandbox_out="$results/sandbox-spawn-$stamp.txt"
    echo "run.sh: cargo bench -p stockade-sandbox --bench spawn -> $sandbox_out" >&2
    (cd "$repo" && timeout 900 cargo bench -q -p stockade-sandbox --bench spawn) \
        >"$sandbox_out" 2>&1 || echo "run.sh: sandbox bench failed (see $sandbox_out)" >&2
fi

cd "$here"
# TERM first so bench.py's cleanup (kill its tree by pid, rmdir boxes, rm tempdirs) runs.
exec timeout -s TERM -k 30 900 python3 bench.py \
    --stockade "$repo/target/release/stockade" \
    --n "$N" --kills "$KILLS" --idle "$IDLE" --only "$ONLY" \
    ${sandbox_out:+--sandbox-bench "$sandbox_out"} \
    ${MONITOR_INTERVAL:+--stockade-monitor-interval "$MONITOR_INTERVAL"} \
    --results "$results"
