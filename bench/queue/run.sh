#!/usr/bin/env bash
# Queue benchmarks (issue 4 item 6), one run beside peers:
#   durable submissions/s (one by one, batched, CLI per job),
#   2,000 `true` jobs end to end at 16: stockade vs pueue vs xargs,
#   daemon RSS/threads with 1,000 queued + 200 running.
#
#   bench/queue/run.sh               # REPS=3 by default; ~10 minutes, mostly pueue
#   REPS=1 ONLY=stockade_e2e bench/queue/run.sh
#
# Needs root (boxes are cgroups). Installs pueue by package name if missing.
# Results: bench/queue/results/<stamp>.{md,jsonl} (gitignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v pueue >/dev/null || ! command -v pueued >/dev/null; then
    if [ ! -x "$HOME/.cargo/bin/pueue" ]; then
        echo "installing pueue (cargo install pueue --locked; a few minutes)" >&2
        cargo install pueue --locked >&2
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v xargs >/dev/null || { echo "xargs (findutils) is missing" >&2; exit 1; }

(cd "$repo" && cargo build --release -p stockade-cli >&2)
export STOCKADE="$repo/target/release/stockade"

status=0
python3 "$here/bench.py" || status=$?

# Leftover box parents of the fixed `stockade` cgroup root: rmdir only
# removes them when empty, so a box still in use elsewhere is never touched.
own_mem="$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)"
for parent in /sys/fs/cgroup/*/stockade "/sys/fs/cgroup/memory${own_mem}/stockade"; do
    [ -d "$parent" ] && rmdir "$parent" 2>/dev/null || true
done
exit $status
