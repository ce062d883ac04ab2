#!/usr/bin/env python3
"""The issue-15 cluster benchmark, one run, printed as a markdown table.

    sudo STOCKADE_BIN=/work/target-bench/release/stockade python3 bench/cluster/bench.py

(root: network namespaces, a private PostgreSQL run as `postgres`, cgroups.)
It reuses the multi-host test harness (tests/cluster/harness.py and
conftest.py): one private Postgres, two network namespaces, and per
measurement a fresh database, state dirs and ledger. h1 runs in the root
network namespace, h2 and h3 each in their own.

Measured:
1. enqueue→start latency: LAT_JOBS sequential single `POST /api/jobs` of a
   `t` job (sleep 0), each waited for until it ended; latency = the job's
   ledger `start` ($EPOCHREALTIME) minus the wall time just before the POST.
   One host on SQLite (no [cluster]) and a cluster of 3 (submitted to h1).
2. batched durable submissions/s: BATCHES POSTs of 200 jobs into a pool of
   max_concurrency 1 whose slot a long job holds (so they only queue); only
   the POST time is counted.
3. E2E_JOBS short jobs (sleep 0), submitted in batches of 200 to one host:
   first submit → `GET /api/jobs?state=succeeded` total = E2E_JOBS. SQLite
   single host, cluster of 1, cluster of 3 (every host max_concurrency 8).
4. host death → its jobs running elsewhere: h2 runs 4 jobs, h1 and h3 join,
   h2's daemon and its jobs are SIGKILLed; the clock stops at the last of
   the four's second `start` line. DEATH_REPS times, median. Leases: conftest
   LEASES (heartbeat 1s, stop_after 4s, lost_after 8s).

Knobs (environment): LAT_JOBS (200), BATCHES (20), E2E_JOBS (5000),
DEATH_REPS (3), STOCKADE_BIN (else $CARGO_TARGET_DIR/debug/stockade).
Everything made is removed at the end, on failure too: daemons (SIGTERM,
which stops and requeues their runs), leftover job processes (only those
whose environment names this run's ledger), namespaces, Postgres.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cluster"))

import harness  # noqa: E402
from conftest import LEASES, LOST_AFTER, Cluster, member_spec, toml_str  # noqa: E402
from harness import Daemon, Netns, Postgres, process_alive, wait_until  # noqa: E402

LAT_JOBS = int(os.environ.get("LAT_JOBS", "200"))
BATCHES = int(os.environ.get("BATCHES", "20"))
E2E_JOBS = int(os.environ.get("E2E_JOBS", "5000"))
DEATH_REPS = int(os.environ.get("DEATH_REPS", "3"))
BATCH = 200

# graphile/worker website/docs/performance.md ("Quick stats in optimal
# conditions", concurrentJobs 24, a well-specced database server).
GRAPHILE_LATENCY_MS = 4.16
GRAPHILE_LATENCY_MAX_MS = 13.84
GRAPHILE_BATCH_PER_S = 202_000
GRAPHILE_EXEC_PER_S = 183_000


def held_template(ledger: Path) -> str:
    """Pool `hold` (one slot) and template `held`: the ledger job, so a
    leftover is found by `Ledger.kill_leftovers`."""
    env = f"{{ HOST_TAG = \"held\", LEDGER = {toml_str(str(ledger))} }}"
    return f"""
[pool.hold]
max_concurrency = 1
max_queued = 1000000

[job.held]
command = ["bash", "-c", {toml_str(harness.JOB_SCRIPT)}, "job"]
isolation = "none"
pool = "hold"
env = {env}
timeout = "1h"
"""


class Tail:
    """The ledger read incrementally: start/end micros per token."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.rest = b""
        self.start: dict[str, tuple[int, str]] = {}
        self.end: dict[str, int] = {}

    def poll(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            parts = line.decode().split()
            if len(parts) == 5 and parts[0] == "start":
                self.start.setdefault(parts[1], (int(parts[4]), parts[2]))
            elif len(parts) == 5 and parts[0] == "end":
                self.end.setdefault(parts[1], int(parts[4]))


class CpuMeter:
    """Busy cores on the whole machine (every process, ours included)."""

    @staticmethod
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def __enter__(self) -> CpuMeter:
        self.t0 = self.sample()
        return self

    def __exit__(self, *_: object) -> None:
        busy, total = self.sample()
        dt = total - self.t0[1]
        self.busy = (busy - self.t0[0]) / dt * os.cpu_count() if dt else 0.0  # type: ignore[operator]


def counts(d: Daemon, state: str) -> int:
    return int(d.get(f"/api/jobs?state={state}&limit=1")["total"])


def submit(d: Daemon, tokens: list[str], template: str = "t", sleep: float = 0) -> None:
    for i in range(0, len(tokens), BATCH):
        d.submit([{"template": template, "args": [tok, str(sleep)]} for tok in tokens[i : i + BATCH]])


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


class Bench:
    """One Postgres and two namespaces for the whole run; a fresh database,
    work dir and ledger per measurement (`scene`)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.nets = [stack.enter_context(Netns(i)) for i in range(2)]
        self.pg = stack.enter_context(Postgres(listen=[n.root_ip for n in self.nets]))
        self.n = 0

    @contextlib.contextmanager
    def scene(self, name: str) -> Iterator[Cluster]:
        self.n += 1
        db = f"b{self.n}_{name}"
        self.pg.createdb(db)
        root = Path(tempfile.mkdtemp(prefix=f"stockade-cbench-{os.getpid()}-"))
        c = Cluster(self.pg, self.nets, db, root)
        try:
            yield c
        except BaseException:
            for d in c.hosts.values():
                print(f"==== {d.name} log\n{d.log_tail(30)}", file=sys.stderr)
            raise
        finally:
            c.close()
            shutil.rmtree(root, ignore_errors=True)

    def solo(self, c: Cluster, **spec: Any) -> Daemon:
        """A plain one-host daemon (SQLite, no [cluster]) on the scene's ledger."""
        d = Daemon("solo", member_spec(name="solo", database=None, ledger=c.ledger.path, **spec), c.root)
        c.hosts["solo"] = d
        return d.start()

    def topology(self, c: Cluster, kind: str, **spec: Any) -> Daemon:
        """The host submissions go to: `solo`, `c1` (h1 alone) or `c3` (h1 of three)."""
        if kind == "solo":
            return self.solo(c, **spec)
        if kind == "c1":
            return c.member("h1", None, **spec)
        return c.three(**spec)[0]

    # ---------------------------------------------------------------- 1

    def latency(self, kind: str) -> dict[str, Any]:
        with self.scene(f"lat_{kind}") as c, CpuMeter() as cpu:
            d = self.topology(c, kind)
            tail = Tail(c.ledger.path)
            lat: list[float] = []
            ack: list[float] = []
            hosts: dict[str, int] = {}
            for i in range(LAT_JOBS):
                tok = f"l{i}"
                t0 = time.time()
                d.submit([{"template": "t", "args": [tok, "0"]}])
                ack.append(time.time() - t0)

                def ended() -> bool:
                    tail.poll()
                    return tok in tail.end

                wait_until(f"{tok} ended", ended, timeout=30, every=0.002)
                start, host = tail.start[tok]
                lat.append(start / 1e6 - t0)
                hosts[host] = hosts.get(host, 0) + 1
        ms = [x * 1000 for x in lat]
        return {
            "p50": pct(ms, 50),
            "p99": pct(ms, 99),
            "mean": statistics.mean(ms),
            "max": max(ms),
            "ack_p50": pct([x * 1000 for x in ack], 50),
            "hosts": hosts,
            "busy": cpu.busy,
        }

    # ---------------------------------------------------------------- 2

    def batched(self, kind: str) -> dict[str, Any]:
        with self.scene(f"sub_{kind}") as c, CpuMeter() as cpu:
            d = self.topology(c, kind, extra=held_template(c.ledger.path))
            # The first job each host takes holds its one slot for an hour.
            took: list[float] = []
            for b in range(BATCHES):
                body = [{"template": "held", "args": [f"s{b}_{i}", "3600"]} for i in range(BATCH)]
                t0 = time.perf_counter()
                d.submit(body)
                took.append(time.perf_counter() - t0)
            spent = sum(took)
            tenth = max(1, BATCHES // 10)
            queued = counts(d, "queued")
            if queued < BATCHES * BATCH - 3:
                raise AssertionError(f"only {queued} of {BATCHES * BATCH} queued: the pool did not hold them")
        return {
            "rate": BATCHES * BATCH / spent,
            "first": tenth * BATCH / sum(took[:tenth]),
            "last": tenth * BATCH / sum(took[-tenth:]),
            "busy": cpu.busy,
        }

    # ---------------------------------------------------------------- 3

    def e2e(self, kind: str) -> dict[str, Any]:
        with self.scene(f"e2e_{kind}") as c:
            d = self.topology(c, kind)
            tokens = [f"e{i}" for i in range(E2E_JOBS)]
            with CpuMeter() as cpu:
                t0 = time.time()
                submit(d, tokens)
                submitted = time.time() - t0
                wait_until(
                    f"{E2E_JOBS} succeeded",
                    lambda: counts(d, "succeeded") >= E2E_JOBS or (counts(d, "failed") and _raise(d)),
                    timeout=900,
                    every=0.2,
                )
                wall = time.time() - t0
            hosts: dict[str, int] = {}
            for e in c.ledger.entries():
                if e.kind == "end":
                    hosts[e.host] = hosts.get(e.host, 0) + 1
            if sum(hosts.values()) != E2E_JOBS:
                raise AssertionError(f"{sum(hosts.values())} ends in the ledger for {E2E_JOBS} jobs")
        return {"wall": wall, "rate": E2E_JOBS / wall, "submit": submitted, "hosts": hosts, "busy": cpu.busy}

    # ---------------------------------------------------------------- 4

    def death(self, rep: int) -> float:
        with self.scene(f"death{rep}") as c:
            h2 = c.member("h2", self.nets[0])
            tokens = [f"k{rep}_{i}" for i in range(4)]
            # Long enough to still run on h2 while h1 and h3 start.
            submit(h2, tokens, sleep=10)
            wait_until("h2 runs all four", lambda: len(c.ledger.starts()) == 4 or None, timeout=30)
            c.member("h1", None)
            c.member("h3", self.nets[1])
            h2.kill9()
            died = time.time()
            for pid in c.ledger.kill_leftovers():
                wait_until(f"pid {pid} gone", lambda pid=pid: not process_alive(pid) or None, timeout=10)

            def rerun() -> float | None:
                again = [max(e.micros for e in c.ledger.by_token(t) if e.kind == "start") for t in tokens]
                if all(c.ledger.starts()[t] >= 2 for t in tokens):
                    return max(again) / 1e6
                return None

            last = wait_until("all four started again elsewhere", rerun, timeout=LOST_AFTER + 30)
            hosts = {e.host for t in tokens for e in c.ledger.by_token(t) if e.kind == "start"} - {"h2"}
            if not hosts <= {"h1", "h3"}:
                raise AssertionError(f"re-run on {hosts}")
            return last - died


def _raise(d: Daemon) -> None:
    raise AssertionError(f"{counts(d, 'failed')} jobs failed")


def machine() -> str:
    mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:"))
    model = next(
        (l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?"
    )
    return f"{os.cpu_count()} CPUs ({model}), {mem / (1 << 20):.1f} GiB RAM, Linux {platform.release()}"


def commit() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def fmt(x: float, unit: str = "") -> str:
    return f"{x:,.0f}{unit}" if x >= 100 else f"{x:.2f}{unit}" if x < 10 else f"{x:.1f}{unit}"


def main() -> int:
    why = harness.why_not_runnable()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    # SIGTERM/SIGHUP unwind like ^C, so every `finally` cleans up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    began = time.time()
    load0 = os.getloadavg()
    log = lambda what: print(f"[{time.time() - began:6.1f}s] {what}", file=sys.stderr, flush=True)  # noqa: E731
    with contextlib.ExitStack() as stack:
        b = Bench(stack)
        lat, sub, e2e = {}, {}, {}
        for kind in ("solo", "c3"):
            log(f"latency {kind}")
            lat[kind] = b.latency(kind)
        for kind in ("solo", "c3"):
            log(f"batched submissions {kind}")
            sub[kind] = b.batched(kind)
        for kind in ("solo", "c1", "c3"):
            log(f"{E2E_JOBS} jobs {kind}")
            e2e[kind] = b.e2e(kind)
        deaths = []
        for rep in range(DEATH_REPS):
            log(f"host death {rep + 1}/{DEATH_REPS}")
            deaths.append(b.death(rep))
    took = time.time() - began
    load1 = os.getloadavg()

    s, c3 = lat["solo"], lat["c3"]
    bin_ = harness.binary()
    out = [
        f"## Cluster benchmark (issue 15), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(began))}",
        "",
        f"Binary `{bin_}` ({'release' if '/release/' in str(bin_) else 'debug'} build of {commit()}). "
        f"Machine: {machine()}; load average {load0[0]:.1f} before, {load1[0]:.1f} after — "
        "shared with other sessions' builds, so absolute numbers move with their load. "
        f"All hosts are processes on this one machine (h2, h3 in network namespaces), PostgreSQL 15 local, durable "
        f"(fsync on). Leases: {', '.join(f'{k} {v}' for k, v in LEASES.items())}. Run took {took:.0f} s.",
        "",
        "| measurement | single host (SQLite) | cluster of 1 | cluster of 3 | cluster 3 ÷ single | graphile-worker (published) |",
        "|---|---|---|---|---|---|",
        f"| enqueue→start p50, {LAT_JOBS} one at a time | {s['p50']:.2f} ms | — | {c3['p50']:.2f} ms | {c3['p50'] / s['p50']:.2f}× | — |",
        f"| enqueue→start p99 | {s['p99']:.2f} ms | — | {c3['p99']:.2f} ms | {c3['p99'] / s['p99']:.2f}× | max {GRAPHILE_LATENCY_MAX_MS} ms |",
        f"| enqueue→start mean | {s['mean']:.2f} ms | — | {c3['mean']:.2f} ms | {c3['mean'] / s['mean']:.2f}× | {GRAPHILE_LATENCY_MS} ms average |",
        f"| single POST acknowledged (durable), p50 | {s['ack_p50']:.2f} ms | — | {c3['ack_p50']:.2f} ms | {c3['ack_p50'] / s['ack_p50']:.2f}× | — |",
        f"| batched durable submissions ({BATCHES}×{BATCH}, POST time only) | {fmt(sub['solo']['rate'])}/s | — | "
        f"{fmt(sub['c3']['rate'])}/s (via h1) | {sub['c3']['rate'] / sub['solo']['rate']:.2f}× | ~{GRAPHILE_BATCH_PER_S:,}/s (one add_jobs call) |",
        f"| {E2E_JOBS:,} jobs (sleep 0), first submit → all succeeded | {e2e['solo']['wall']:.1f} s | {e2e['c1']['wall']:.1f} s | "
        f"{e2e['c3']['wall']:.1f} s | {e2e['c3']['wall'] / e2e['solo']['wall']:.2f}× (÷ cluster of 1: {e2e['c3']['wall'] / e2e['c1']['wall']:.2f}×) | — |",
        f"| {E2E_JOBS:,} jobs, jobs/s | {fmt(e2e['solo']['rate'])} | {fmt(e2e['c1']['rate'])} | {fmt(e2e['c3']['rate'])} | "
        f"{e2e['c3']['rate'] / e2e['solo']['rate']:.2f}× (÷ cluster of 1: {e2e['c3']['rate'] / e2e['c1']['rate']:.2f}×) | ~{GRAPHILE_EXEC_PER_S:,}/s (4 workers × 24) |",
        f"| host death → its 4 jobs running elsewhere, median of {DEATH_REPS} | — | — | {statistics.median(deaths):.2f} s "
        f"({', '.join(f'{x:.2f}' for x in deaths)}) | — | — |",
        "",
        "Notes:",
        f"- latency jobs ran on: single {s['hosts']}; cluster {c3['hosts']} (each waited for to end before the next submit).",
        f"- {E2E_JOBS:,} jobs ran on: cluster of 1 {e2e['c1']['hosts']}; cluster of 3 {e2e['c3']['hosts']}; "
        f"submitting them took {e2e['solo']['submit']:.1f} / {e2e['c1']['submit']:.1f} / {e2e['c3']['submit']:.1f} s; "
        "every host has `max_concurrency = 8`.",
        f"- batched submissions, first and last tenth of the batches (queue depth 0→{BATCHES * BATCH // 10:,} and "
        f"{BATCHES * BATCH * 9 // 10:,}→{BATCHES * BATCH:,}): single {fmt(sub['solo']['first'])}/s → {fmt(sub['solo']['last'])}/s; "
        f"cluster {fmt(sub['c3']['first'])}/s → {fmt(sub['c3']['last'])}/s.",
        f"- machine busy cores during the {E2E_JOBS:,}-job runs (every process, ours included, of {os.cpu_count()}): "
        f"{e2e['solo']['busy']:.2f} / {e2e['c1']['busy']:.2f} / {e2e['c3']['busy']:.2f}; "
        f"during latency {s['busy']:.2f} / {c3['busy']:.2f}; batched submissions {sub['solo']['busy']:.2f} / {sub['c3']['busy']:.2f}.",
        f"- host death: the floor is lost_after ({LOST_AFTER:.0f} s) counted from h2's last renewed lease (≤ 1 heartbeat before the kill), "
        "plus the leader's next beat and a claim.",
        "- graphile-worker: https://github.com/graphile/worker/blob/main/website/docs/performance.md "
        "(\"Quick stats in optimal conditions\": concurrentJobs 24, a well-specced database server; "
        "its jobs are in-process Node functions, stockade's start a process in a box).",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
