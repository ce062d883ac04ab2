"""Fixtures: one private Postgres and two network namespaces per module, and
per test a fresh database with three members on it (`Cluster`):

    h1  in the root network namespace, reaching Postgres at 127.0.0.1
    h2  in netns #0, reaching it at that namespace's root-side veth address
    h3  in netns #1, likewise

Every member's job templates append to one shared ledger (`harness.Ledger`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import harness
import pytest
from harness import Daemon, Ledger, Netns, Postgres

GIB = 1 << 30
MIB = 1 << 20

# Short leases (issue 15): stop_after + max_clock_skew + heartbeat = 6s ≤ lost_after.
LEASES = {
    "heartbeat": "1s",
    "stop_after": "4s",
    "lost_after": "8s",
    "max_clock_skew": "1s",
    "poll": "500ms",
}
LOST_AFTER = 8.0
STOP_AFTER = 4.0

WHY_NOT = harness.why_not_runnable()
if WHY_NOT and os.environ.get("STOCKADE_CLUSTER_REQUIRED") == "1":
    # .ci/run sets this: there the multi-host tests must run, never skip.
    raise pytest.UsageError(f"the cluster tests cannot run: {WHY_NOT}")

requires_cluster_host = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


def toml_str(text: str) -> str:
    """`text` as a TOML basic string, with `${` kept literal (the spec
    interpolates `${VAR}`; `$${` is a literal `${`)."""
    return json.dumps(text).replace("${", "$${")


def size(n: int) -> str:
    return f"{max(n, 0) // MIB}MiB"


def member_spec(
    *,
    name: str,
    database: str | None,
    ledger: Path,
    reserve_memory: int = GIB,
    concurrency: int = 8,
    leases: dict[str, str] | None = None,
    extra: str = "",
) -> str:
    """A member's spec: `[cluster]` (unless `database` is None: a plain
    one-host daemon), pool `default`, templates `t` (64 MiB) and `big` (6 GiB)."""
    command = toml_str(harness.JOB_SCRIPT)
    env = f"{{ HOST_TAG = {toml_str(name)}, LEDGER = {toml_str(str(ledger))} }}"
    cluster = ""
    if database is not None:
        lines = [f"database = {toml_str(database)}", f"host = {toml_str(name)}"]
        lines += [f"{k} = {toml_str(v)}" for k, v in (leases or LEASES).items()]
        cluster = "[cluster]\n" + "\n".join(lines) + "\n"
    return f"""
[daemon]
state_dir = "state"
reserve_memory = "{size(reserve_memory)}"

{cluster}
[defaults.limits]
memory = "64MiB"
pids = 64

[pool.default]
max_concurrency = {concurrency}
max_queued = 100000

[job.t]
command = ["bash", "-c", {command}, "job"]
isolation = "none"
env = {env}
timeout = "5m"

[job.big]
command = ["bash", "-c", {command}, "job"]
isolation = "none"
env = {env}
limits.memory = "6GiB"
timeout = "5m"
{extra}
"""


def small_reserve() -> int:
    """A `reserve_memory` that leaves about 3 GiB free now: < 6 GiB, so a
    6 GiB job cannot fit, and room for many 64 MiB ones."""
    return harness.mem_available() - 3 * GIB


class Cluster:
    """Three members (h1 root netns, h2/h3 in netns) on database `db`."""

    def __init__(self, pg: Postgres, nets: list[Netns], db: str, root: Path) -> None:
        self.pg = pg
        self.nets = nets
        self.db = db
        self.root = root
        self.ledger = Ledger(root / "ledger")
        self.hosts: dict[str, Daemon] = {}
        self.netns_of: dict[str, Netns | None] = {}

    def url(self, netns: Netns | None) -> str:
        return self.pg.url(netns.root_ip if netns else "127.0.0.1", self.db)

    def member(self, name: str, netns: Netns | None, *, dir_name: str | None = None, start: bool = True, **spec: object) -> Daemon:
        """A member `name` in `netns` (state in `<root>/<dir_name or name>`)."""
        text = member_spec(name=name, database=self.url(netns), ledger=self.ledger.path, **spec)  # type: ignore[arg-type]
        daemon = Daemon(dir_name or name, text, self.root, netns)
        self.hosts[dir_name or name] = daemon
        self.netns_of[dir_name or name] = netns
        if start:
            daemon.start()
        return daemon

    def three(self, *, h1_reserve: int = GIB, small: int | None = None, **spec: object) -> tuple[Daemon, Daemon, Daemon]:
        """h1 big (reserve `h1_reserve`), h2 and h3 `small` (default: 1 GiB reserve too)."""
        h1 = self.member("h1", None, reserve_memory=h1_reserve, **spec)
        h2 = self.member("h2", self.nets[0], reserve_memory=small or GIB, **spec)
        h3 = self.member("h3", self.nets[1], reserve_memory=small or GIB, **spec)
        return h1, h2, h3

    def close(self) -> None:
        for daemon in self.hosts.values():
            daemon.close()
        self.ledger.kill_leftovers()


@pytest.fixture(scope="module")
def nets() -> Iterator[list[Netns]]:
    made: list[Netns] = []
    try:
        for i in range(2):
            made.append(Netns(i))
        yield made
    finally:
        for n in made:
            n.close()


@pytest.fixture(scope="module")
def pg(nets: list[Netns]) -> Iterator[Postgres]:
    with Postgres(listen=[n.root_ip for n in nets]) as server:
        server.createdb("stockade")
        yield server


@pytest.fixture
def workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=f"stockade-cluster-{os.getpid()}-"))
    yield root
    failed = getattr(request.node, "failed_call", False)
    if failed and os.environ.get("STOCKADE_KEEP"):
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(pg: Postgres, nets: list[Netns], workdir: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    # A database per test: epochs, leases and jobs never leak between scenarios.
    db = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:50]
    pg.createdb(db)
    c = Cluster(pg, nets, db, workdir)
    try:
        yield c
    finally:
        for n in nets:
            n.heal()
        if not pg.running():
            pg.start()
        if getattr(request.node, "failed_call", False):
            for d in c.hosts.values():
                print(f"==== {d.name} log\n{d.log_tail(80)}")
        c.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if call.when == "call" and report.failed:  # type: ignore[attr-defined]
        item.failed_call = True  # type: ignore[attr-defined]
    return report
