#!/usr/bin/env bash
# Soak benchmark (issue 13 item 9): a mixed herd for an hour, the daemon's
# RSS, fds, threads and CPU sampled each minute, slopes reported.
#
#   bench/soak/run.sh                       # 60 minutes
#   MINUTES=5 SAMPLE=15 bench/soak/run.sh   # a quick look
#
# Needs root (boxes are cgroups and namespaces) and python3.
# Results: bench/soak/results/<stamp>.{md,jsonl} (gitignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 1; }
(cd "$repo" && cargo build --release -p stockade-cli >&2)
export STOCKADE="${STOCKADE:-$repo/target/release/stockade}"
exec python3 "$here/soak.py"
