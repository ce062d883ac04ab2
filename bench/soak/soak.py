#!/usr/bin/env python3
"""Soak benchmark of issue 13 item 9: a mixed herd for an hour, sampled.

Run through ./run.sh (it builds the release binary). One daemon keeps
SERVICES services (most steady, CRASHERS crash-looping with backoff, one
leaking memory into its limit and OOM-killed over and over) while jobs are
submitted at JOBS_PER_SEC. Every SAMPLE seconds the daemon's RSS, fds,
threads and CPU over the interval are sampled, with the work done meanwhile
(jobs ended, service restarts). At the end a table and, per resource, the
least-squares slope per hour over the second half of the run (the first
half includes the warm-up: the store's page cache, the learned requests).

Knobs (environment): MINUTES (60), SAMPLE (60 s), SERVICES (100), CRASHERS
(8), JOBS_PER_SEC (20). Results: results/<stamp>.{md,jsonl} (gitignored).

Safety: the daemon is our child, stopped by pid (SIGTERM, then SIGKILL);
every agent is in its own walled box with memory and pids limits; the state
directory (/tmp/stockade-soak-*) is removed at the end.
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../queue"))
from bench import StockadeDaemon, cpu_split, proc_status, wait_for  # noqa: E402

MINUTES = float(os.environ.get("MINUTES", "60"))
SAMPLE = float(os.environ.get("SAMPLE", "60"))
SERVICES = int(os.environ.get("SERVICES", "100"))
CRASHERS = int(os.environ.get("CRASHERS", "8"))
JOBS_PER_SEC = int(os.environ.get("JOBS_PER_SEC", "20"))

SPEC = """
[daemon]
state_dir = "{state}"

[defaults.limits]
memory = "64MiB"
pids = 16

# Steady services: a shell that wakes every few seconds and says so.
[service.steady]
command = ["sh", "-c", "while true; do echo alive; sleep 5; done"]
replicas = {steady}
restart = "always"

# Crash loopers: up 3 s, exit 1, restarted with backoff, never given up on.
[service.crasher]
command = ["sh", "-c", "echo up; sleep 3; echo down >&2; exit 1"]
replicas = {crashers}
restart = "always"
backoff = {{ initial = "1s", max = "2s" }}
start_limit = {{ burst = 1000, interval = "60s" }}

# A leak: grows by 4 MiB every 0.2 s into its 64 MiB limit, is OOM-killed,
# restarted, and leaks again.
[service.leaker]
command = ["python3", "-c", "import time\\nx = []\\nwhile True:\\n    x.append(bytearray(4 << 20))\\n    time.sleep(0.2)"]
restart = "always"
backoff = {{ initial = "1s", max = "2s" }}
start_limit = {{ burst = 1000, interval = "60s" }}

[pool.work]
max_concurrency = 32
max_queued = 100000

[job.work]
command = ["sh", "-c", "echo working $0; sleep 0.5"]
pool = "work"
"""


def restarts(api):
    """Total restarts over every replica, and how many replicas run."""
    total, running, cursor = 0, 0, None
    while True:
        path = "/api/services?limit=500" + (f"&cursor={cursor}" if cursor else "")
        code, body = api.call("GET", path)
        if code != 200:
            raise RuntimeError(f"GET /api/services: {code} {body}")
        for replica in body["items"]:
            total += replica["restarts"]
            running += replica["state"] == "running"
        cursor = body["next"]
        if not cursor:
            return total, running


def ended(api):
    code, body = api.call("GET", "/api/jobs?state=succeeded,failed&limit=1")
    if code != 200:
        raise RuntimeError(f"GET /api/jobs: {code} {body}")
    return body["total"]


def slope_per_hour(xs, ys):
    """Least-squares slope of ys over xs (seconds), per hour."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 3600 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main():
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    spec = lambda state: SPEC.format(state=state, steady=SERVICES - CRASHERS - 1,  # noqa: E731
                                     crashers=CRASHERS)
    daemon = StockadeDaemon(tempfile.gettempdir(), spec, prefix="stockade-soak-", live_within=60)
    proc, api = daemon.proc, daemon.api
    rows = []
    submitted = refused = 0
    try:
        wait_for("every steady replica running",
                 lambda: restarts(api)[1] >= SERVICES - CRASHERS - 1, 120, period=0.5)
        start = time.monotonic()
        end = start + MINUTES * 60
        next_sample = start
        prev = None
        while time.monotonic() < end:
            tick = time.monotonic()
            batch = [{"template": "work", "args": [str(submitted + i)]} for i in range(JOBS_PER_SEC)]
            code, body = api.call("POST", "/api/jobs", batch)
            if code == 201:
                submitted += len(batch)
            else:
                refused += len(batch)
                print(f"batch refused: {code} {body}", file=sys.stderr)
            if tick >= next_sample:
                own, _ = cpu_split(proc.pid)
                st = proc_status(proc.pid)
                t0 = time.monotonic()
                live_code = api.call("GET", "/health/live")[0]
                live_ms = (time.monotonic() - t0) * 1000
                total_restarts, running = restarts(api)
                done = ended(api)
                now = time.monotonic() - start
                row = {"t": round(now), "rss_kib": st["VmRSS"], "fds": st["fds"],
                       "threads": st["Threads"], "cpu_s": own, "restarts": total_restarts,
                       "running_replicas": running, "jobs_ended": done,
                       "submitted": submitted, "live_ms": round(live_ms, 2),
                       "live": live_code}
                if prev:
                    dt = now - prev["t"]
                    row["cpu_pct"] = round(100 * (own - prev["cpu_s"]) / dt, 1)
                    row["jobs_per_s"] = round((done - prev["jobs_ended"]) / dt, 1)
                    row["restarts_per_min"] = round(60 * (total_restarts - prev["restarts"]) / dt, 1)
                rows.append(row)
                prev = row
                print(json.dumps(row), flush=True)
                next_sample += SAMPLE
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    finally:
        rc = daemon.stop()
        daemon_log = open(daemon.log.name).read()
        shutil.rmtree(daemon.dir, ignore_errors=True)
    write(stamp, results, rows, submitted, refused, rc, daemon_log)


def write(stamp, results, rows, submitted, refused, rc, daemon_log):
    with open(os.path.join(results, f"{stamp}.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    half = [r for r in rows if r["t"] >= rows[-1]["t"] / 2] if rows else []
    xs = [r["t"] for r in half]
    lines = [
        f"# soak {stamp}: {MINUTES:g} min, {SERVICES} services ({CRASHERS} crash-looping, 1 leaking), "
        f"{JOBS_PER_SEC} jobs/s",
        "",
        "| min | RSS MiB | fds | threads | CPU % | jobs/s | restarts/min | live ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['t'] / 60:.1f} | {r['rss_kib'] / 1024:.1f} | {r['fds']} | {r['threads']} | "
            f"{r.get('cpu_pct', '')} | {r.get('jobs_per_s', '')} | {r.get('restarts_per_min', '')} | "
            f"{r['live_ms']} |")
    lines += [
        "",
        "Slopes over the second half (least squares, per hour):",
        "",
        f"- RSS: {slope_per_hour(xs, [r['rss_kib'] / 1024 for r in half]):+.2f} MiB/h",
        f"- fds: {slope_per_hour(xs, [r['fds'] for r in half]):+.2f} /h",
        f"- threads: {slope_per_hour(xs, [r['threads'] for r in half]):+.2f} /h",
        f"- CPU: median {statistics.median([r['cpu_pct'] for r in rows if 'cpu_pct' in r] or [0]):.1f} % of a core",
        "",
        f"Submitted {submitted} jobs ({refused} refused); daemon exit {rc}.",
    ]
    errors = [l for l in daemon_log.splitlines() if " ERROR " in l or "panicked" in l]
    lines.append(f"Daemon log: {len(errors)} error line(s)" + (":" if errors else "."))
    lines += [f"    {l}" for l in errors[:10]]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(results, f"{stamp}.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
