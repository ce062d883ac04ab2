"""Benchmark: N jobs submitted with `submit_many` and waited on, sync and
async, against the same through the CLI (`stockade run`, one process per
job); and the SDK's overhead per call against a bare httpx request.

    python3 sdk/python/bench/bench.py [N]     # default 10000; prints a table

Starts its own daemon (target/debug/stockade, or STOCKADE_BIN) on a temp spec.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import stockade  # noqa: E402
from conftest import Daemon, binary  # noqa: E402  (the tests' daemon runner)

SPEC = """
[daemon]
state_dir = "state"
synchronous = "normal"

[job.quick]
command = ["true"]
isolation = "none"

[pool.default]
max_concurrency = 64
max_queued = 100000
"""


def sync_run(sk: stockade.Client, n: int) -> float:
    start = time.perf_counter()
    jobs = sk.jobs.submit_many([stockade.job_request("quick") for _ in range(n)])
    for job in jobs:
        job.wait(timeout=600)
    return time.perf_counter() - start


async def async_run(socket: Path, n: int) -> float:
    async with stockade.AsyncClient(socket) as sk:
        start = time.perf_counter()
        jobs = await sk.jobs.submit_many([stockade.job_request("quick") for _ in range(n)])
        # Under the daemon's max_connections_per_peer (64): each wait holds a connection.
        sem = asyncio.Semaphore(32)

        async def wait(job: stockade.AsyncJob) -> None:
            async with sem:
                await job.wait(timeout=600)

        await asyncio.gather(*(wait(j) for j in jobs))
        return time.perf_counter() - start


def cli_run(d: Daemon, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(
            [str(binary()), "-f", str(d.spec), "run", "--wait", "quick"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return time.perf_counter() - start


def per_call(sk: stockade.Client, socket: Path, calls: int) -> tuple[float, float]:
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url="http://stockade") as raw:
        start = time.perf_counter()
        for _ in range(calls):
            raw.get("/api/queue/status").json()
        bare = (time.perf_counter() - start) / calls
    start = time.perf_counter()
    for _ in range(calls):
        sk.queue.status()
    sdk = (time.perf_counter() - start) / calls
    return bare, sdk


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    cli_n = min(n, int(os.environ.get("BENCH_CLI_JOBS", "500")))
    d = Daemon(SPEC)
    d.start()
    try:
        with stockade.Client(d.socket, timeout=120) as sk:
            s = sync_run(sk, n)
            a = asyncio.run(async_run(d.socket, n))
            c = cli_run(d, cli_n)
            bare, sdk = per_call(sk, d.socket, 2000)
    finally:
        d.close()
    rows = [
        ("sdk sync: submit_many + wait", n, s),
        ("sdk async: submit_many + gather(wait)", n, a),
        (f"cli: `stockade run` x{cli_n} (waits)", cli_n, c),
    ]
    print(f"{'what':<42} {'jobs':>7} {'seconds':>9} {'jobs/s':>9}")
    for what, jobs, secs in rows:
        print(f"{what:<42} {jobs:>7} {secs:>9.2f} {jobs / secs:>9.0f}")
    print()
    print(f"{'per call (GET /api/queue/status)':<42} {'µs':>9}")
    print(f"{'bare httpx':<42} {bare * 1e6:>9.0f}")
    print(f"{'stockade.Client.queue.status()':<42} {sdk * 1e6:>9.0f}")
    print(f"{'SDK overhead':<42} {(sdk - bare) * 1e6:>9.0f}")


if __name__ == "__main__":
    main()
