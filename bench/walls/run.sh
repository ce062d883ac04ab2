#!/usr/bin/env bash
# Walls benchmark (issue 9 item 8): the start cost of one sandboxed `/bin/true`
# beside the peers, in one run — bare fork+exec, `unshare` of every namespace,
# bubblewrap, runc (busybox bundle), podman (`--rootfs`), and stockade's
# walled and unwalled boxes from the sandbox spawn benchmark.
#
#   bench/walls/run.sh                      # N=200 runs per row (~5 min on 2 cores)
#   N=50 bench/walls/run.sh                 # a quicker pass
#   ONLY=bare,bwrap,runc bench/walls/run.sh # some rows only
#   SANDBOX_BENCH=0 bench/walls/run.sh      # peers only (no cargo bench)
#   SANDBOX_OUT=FILE bench/walls/run.sh     # parse an earlier `cargo bench --bench spawn` output
#
# Needs root (runc, podman, cgroups). Installs the peers by Debian package
# name if missing (bubblewrap, runc, podman, busybox-static), builds a busybox
# rootfs and OCI bundle in a temp dir, and removes everything it made on exit:
# the temp dir, runc containers (`runc delete -f`), podman containers
# (`podman rm -af`), and any cgroup a runc or podman run left behind. Every
# step is bounded with `timeout`. Prints one markdown table; the raw samples
# go to bench/walls/results/ (gitignored).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"
mkdir -p "$results"
stamp="$(date +%Y%m%dT%H%M%S)"

N="${N:-200}"
ONLY="${ONLY:-bare,unshare,bwrap,runc,podman,stockade}"
SANDBOX_BENCH="${SANDBOX_BENCH:-1}"
SANDBOX_OUT="${SANDBOX_OUT:-}"

if [[ $EUID -ne 0 ]]; then
    echo "run.sh: needs root (runc and podman as root, cgroup boxes for stockade, apt-get)" >&2
    exit 2
fi

install_peers() {
    local want=()
    command -v bwrap >/dev/null || want+=(bubblewrap)
    command -v runc >/dev/null || want+=(runc)
    command -v podman >/dev/null || want+=(podman)
    [[ -x /bin/busybox ]] || want+=(busybox-static)
    [[ ${#want[@]} -eq 0 ]] && return 0
    echo "run.sh: installing ${want[*]}" >&2
    # runc first in the same transaction satisfies podman's `crun | runc`:
    # crun refuses this project's hybrid cgroup v1 hosts.
    if ! DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
        -o DPkg::Lock::Timeout=120 --no-install-recommends "${want[@]}" >&2; then
        timeout 300 apt-get update -qq -o DPkg::Lock::Timeout=120
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
            -o DPkg::Lock::Timeout=120 --no-install-recommends "${want[@]}" >&2
    fi
}

install_peers

work="$(mktemp -d /tmp/stockade-bench-walls.XXXXXX)"
prefix="sbw$$"                     # container names and cgroups: sbw<pid>-<n>
runc_root="$work/runc-root"
podman_args=(--root "$work/podman-root" --runroot "$work/podman-runroot"
             --storage-driver vfs --cgroup-manager cgroupfs --events-backend file
             --tmpdir "$work/podman-tmp" --runtime "$(command -v runc)" --log-level error)

own_libpod_parent=1
compgen -G "/sys/fs/cgroup/*/libpod_parent" >/dev/null && own_libpod_parent=0

cleanup() {
    set +e
    if [[ -d "$runc_root" ]]; then
        for id in $(timeout 30 runc --root "$runc_root" list -q 2>/dev/null); do
            timeout 30 runc --root "$runc_root" delete -f "$id" >/dev/null 2>&1
        done
    fi
    if [[ -d "$work/podman-root" ]]; then
        timeout 60 podman "${podman_args[@]}" rm -af >/dev/null 2>&1
    fi
    # runc names a container's cgroup after its id; podman's cgroupfs manager
    # nests them under libpod_parent (removed only if this run created it).
    # rmdir removes empty directories only, deepest first.
    for dir in /sys/fs/cgroup/*/"$prefix"-*; do
        [[ -d "$dir" ]] && rmdir "$dir" 2>/dev/null
    done
    if [[ $own_libpod_parent -eq 1 ]]; then
        find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} + 2>/dev/null
    fi
    # Nothing in $work is mounted (vfs storage, runc unmounts at delete);
    # refuse to remove it if something is, rather than delete through a mount.
    if grep -q " $work" /proc/self/mountinfo; then
        echo "run.sh: mounts left under $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# A busybox rootfs (static, so no libraries to copy) and an OCI bundle over it.
rootfs="$work/bundle/rootfs"
mkdir -p "$rootfs"/{bin,proc,dev,sys,tmp,etc}
cp /bin/busybox "$rootfs/bin/busybox"
# A dynamic busybox (Debian's `busybox`, not `busybox-static`) brings its libraries.
for lib in $(ldd /bin/busybox 2>/dev/null | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
for applet in sh true; do ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
if command -v runc >/dev/null; then
    (cd "$work/bundle" && timeout 30 runc spec)
    python3 - "$work/bundle/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
spec["root"] = {"path": "rootfs", "readonly": True}
json.dump(spec, open(path, "w"), indent=1)
EOF
fi

sandbox_out="$SANDBOX_OUT"
if [[ -z "$sandbox_out" && "$SANDBOX_BENCH" == "1" && ",$ONLY," == *",stockade,"* ]]; then
    sandbox_out="$results/sandbox-spawn-$stamp.txt"
    echo "run.sh: cargo bench -p stockade-sandbox --bench spawn -> $sandbox_out" >&2
    (cd "$repo" && timeout 1200 cargo bench -q -p stockade-sandbox --bench spawn) \
        >"$sandbox_out" 2>&1 || echo "run.sh: sandbox bench failed (see $sandbox_out)" >&2
fi

cd "$here"
timeout -s TERM -k 30 1800 python3 bench.py \
    --n "$N" --only "$ONLY" --bundle "$work/bundle" --runc-root "$runc_root" \
    --prefix "$prefix" --podman-args "${podman_args[*]}" \
    ${sandbox_out:+--sandbox-bench "$sandbox_out"} \
    --results "$results/walls-$stamp"
