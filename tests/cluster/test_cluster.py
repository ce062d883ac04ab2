"""Three stockade daemons on one private PostgreSQL, two of them inside
network namespaces: the cluster's promises (issue 15) shown with real
processes, real leases, real partitions."""

from __future__ import annotations

import time
from typing import Any

from conftest import GIB, LOST_AFTER, STOP_AFTER, Cluster, requires_cluster_host, small_reserve
import subprocess

from harness import Daemon, binary, process_alive, wait_until

pytestmark = requires_cluster_host


def counts(d: Daemon, state: str) -> int:
    return int(d.get(f"/api/jobs?state={state}&limit=1")["total"])


def jobs(d: Daemon, template: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        q = f"/api/jobs?limit=500{cursor}" + (f"&template={template}" if template else "")
        page = d.get(q)
        out += page["items"]
        if not page.get("next"):
            return out
        cursor = f"&cursor={page['next']}"


def submit(d: Daemon, tokens: list[str], template: str = "t", sleep: float = 0) -> list[int]:
    ids: list[int] = []
    for i in range(0, len(tokens), 200):
        body = [{"template": template, "args": [tok, str(sleep)]} for tok in tokens[i : i + 200]]
        ids += [s["id"] for s in d.submit(body)]
    return ids


def test_a_thousand_jobs_spread_by_headroom_each_run_exactly_once(cluster: Cluster) -> None:
    h1, h2, h3 = cluster.three(small=small_reserve())
    tokens = [f"j{i}" for i in range(1000)]
    # Submitted through the small hosts: any member queues cluster-wide.
    submit(h2, tokens[:500])
    submit(h3, tokens[500:])
    big = submit(h3, ["big0", "big1"], template="big")
    wait_until("1002 jobs succeeded", lambda: counts(h1, "succeeded") == 1002 or None, timeout=240, every=1)

    ends = cluster.ledger.ends()
    starts = cluster.ledger.starts()
    # A healthy cluster fences nothing and cuts nobody off.
    health = {d.name: (d.metric("stockade_jobs_fenced_total"), d.metric("stockade_self_fences_total")) for d in (h1, h2, h3)}
    assert all(v == (0, 0) for v in health.values()), f"fenced, self-fences per host: {health}"
    for tok in [*tokens, "big0", "big1"]:
        assert starts[tok] == 1 and ends[tok] == 1, f"{tok}: started {starts[tok]}, ended {ends[tok]}: {cluster.ledger.by_token(tok)}"
    by_host: dict[str, int] = {}
    for e in cluster.ledger.entries():
        if e.kind == "end":
            by_host[e.host] = by_host.get(e.host, 0) + 1
    print("jobs per host:", by_host)
    assert len([h for h, n in by_host.items() if n > 0]) == 3, by_host
    # 6 GiB fits only h1 (h2 and h3 have about 3 GiB free).
    for e in cluster.ledger.by_token("big0") + cluster.ledger.by_token("big1"):
        assert e.host == "h1", e
    for job_id in big:
        assert h2.get(f"/api/jobs/{job_id}")["host"] == "h1"
    view = h2.get("/api/cluster")
    assert [h["name"] for h in view["hosts"]] == ["h1", "h2", "h3"]
    assert all(h["state"] == "live" for h in view["hosts"])
    assert sum(1 for h in view["hosts"] if h["leader"]) == 1
    assert h1.metric("stockade_cluster_claims_total") + h2.metric("stockade_cluster_claims_total") + h3.metric(
        "stockade_cluster_claims_total"
    ) == 1002


def test_a_job_that_fits_no_host_says_why_and_runs_when_one_joins(cluster: Cluster) -> None:
    h2 = cluster.member("h2", cluster.nets[0], reserve_memory=small_reserve())
    [job_id] = submit(h2, ["big"], template="big")

    def waiting() -> str | None:
        job = h2.get(f"/api/jobs/{job_id}")
        return job.get("waiting")

    why = wait_until("a reason", waiting, timeout=20)
    assert why.startswith("no host has 6.0 GiB free; largest free "), why
    assert why.endswith(" on h2"), why
    cluster.member("h1", None)
    wait_until("big ran on h1", lambda: h2.get(f"/api/jobs/{job_id}")["state"] == "succeeded" or None, timeout=30)
    assert h2.get(f"/api/jobs/{job_id}")["host"] == "h1"


def test_a_killed_host_s_jobs_run_again_elsewhere_within_lost_after(cluster: Cluster) -> None:
    h2 = cluster.member("h2", cluster.nets[0])
    tokens = [f"k{i}" for i in range(4)]
    ids = submit(h2, tokens, sleep=6)
    wait_until("h2 runs all four", lambda: len([e for e in cluster.ledger.entries() if e.kind == "start"]) == 4 or None, timeout=20)
    h1 = cluster.member("h1", None)
    h3 = cluster.member("h3", cluster.nets[1])
    # The host dies: its daemon and its agents (a machine gone, not a daemon restart).
    h2.kill9()
    died = time.time()
    for pid in cluster.ledger.kill_leftovers():
        wait_until(f"pid {pid} gone", lambda pid=pid: not process_alive(pid) or None, timeout=10)

    def rerun() -> bool | None:
        hosts = {e.host for tok in tokens for e in cluster.ledger.by_token(tok) if e.kind == "start"}
        return ({"h1", "h3"} & hosts and all(cluster.ledger.starts()[t] == 2 for t in tokens)) or None

    wait_until("all four started again elsewhere", rerun, timeout=LOST_AFTER + 15)
    rescued_in = time.time() - died
    print(f"host death to all four running elsewhere: {rescued_in:.1f}s (lost_after {LOST_AFTER}s)")
    assert rescued_in < LOST_AFTER + 5
    wait_until("all four succeeded", lambda: all(h1.get(f"/api/jobs/{i}")["state"] == "succeeded" for i in ids) or None, timeout=30)
    for tok in tokens:
        ends = [e for e in cluster.ledger.by_token(tok) if e.kind == "end"]
        assert len(ends) == 1 and ends[0].host != "h2", (tok, ends)
    for i in ids:
        job = h3.get(f"/api/jobs/{i}")
        assert job["attempt"] == 2, job
    leader = next(d for d in (h1, h3) if d.metric("stockade_cluster_leader") == 1)
    assert leader.metric("stockade_rescues_total") >= 4
    view = h1.get("/api/cluster")
    assert next(h for h in view["hosts"] if h["name"] == "h2")["state"] == "lost"


def test_a_partitioned_host_stops_its_runs_before_they_are_rescued_and_its_late_word_is_refused(cluster: Cluster) -> None:
    cut = cluster.nets[0]
    h2 = cluster.member("h2", cut)
    short, long = ["p-short"], ["p-long0", "p-long1"]
    submit(h2, short, sleep=2)
    submit(h2, long, sleep=60)
    wait_until("h2 runs all three", lambda: len(cluster.ledger.starts()) == 3 or None, timeout=20)
    h1 = cluster.member("h1", None)
    pids = {e.token: e.pid for e in cluster.ledger.entries() if e.kind == "start"}
    epoch_before = next(h for h in h1.get("/api/cluster")["hosts"] if h["name"] == "h2")["epoch"]

    cut.partition(cut.root_ip, cluster.pg.port)
    t0 = time.time()
    timeline = [(0.0, "partition: h2 cannot reach PostgreSQL")]
    stopped: dict[str, float] = {}
    rerun: dict[str, float] = {}
    deadline = t0 + LOST_AFTER + 20
    while time.time() < deadline and (len(stopped) < 2 or len(rerun) < 3):
        now = time.time() - t0
        for tok in long:
            if tok not in stopped and not process_alive(pids[tok]):
                stopped[tok] = now
                timeline.append((now, f"h2 stopped its run of {tok} (pid {pids[tok]})"))
        for tok in [*short, *long]:
            elsewhere = [e for e in cluster.ledger.by_token(tok) if e.kind == "start" and e.host != "h2"]
            if tok not in rerun and elsewhere:
                rerun[tok] = elsewhere[0].micros / 1e6 - t0
                timeline.append((rerun[tok], f"{tok} started again on {elsewhere[0].host}"))
        time.sleep(0.05)
    cut.heal()
    timeline.append((time.time() - t0, "healed"))
    assert set(stopped) == set(long), f"h2 did not stop its runs: {stopped}"
    assert set(rerun) == {*short, *long}, f"not rescued: {rerun}"
    for tok in long:
        assert stopped[tok] < rerun[tok], f"{tok}: stopped at {stopped[tok]:.1f}s, re-run at {rerun[tok]:.1f}s"
        assert stopped[tok] >= STOP_AFTER - 1.5, stopped
        assert rerun[tok] >= STOP_AFTER, rerun
    # The short job ended on h2 during the partition: its report, sent after
    # the heal under the old epoch, is refused; h2 comes back with a new epoch.
    def rejoined() -> int | None:
        host = next(h for h in h1.get("/api/cluster")["hosts"] if h["name"] == "h2")
        return host["epoch"] if host["epoch"] > epoch_before and host["state"] == "live" else None

    epoch_after = wait_until("h2 rejoined", rejoined, timeout=30)
    timeline.append((time.time() - t0, f"h2 rejoined with epoch {epoch_after} (was {epoch_before})"))
    wait_until("h2's late completion refused", lambda: h2.metric("stockade_jobs_fenced_total") >= 1 or None, timeout=20)
    timeline.append((time.time() - t0, "h2's late completion of p-short refused (stockade_jobs_fenced_total 1)"))
    assert h2.metric("stockade_self_fences_total") >= 1
    print("partition timeline:")
    for at, what in sorted(timeline):
        print(f"  {at:6.2f}s  {what}")
    # No run of a long job ever ended twice.
    for tok in long:
        assert cluster.ledger.ends()[tok] <= 1


def test_postgres_restarted_under_load_loses_nothing(cluster: Cluster) -> None:
    h1, h2, h3 = cluster.three()
    tokens = [f"r{i}" for i in range(300)]
    ids = submit(h1, tokens, sleep=0.2)
    wait_until("some ran", lambda: len(cluster.ledger.ends()) >= 30 or None, timeout=60)
    cluster.pg.restart("fast")
    more = [f"r{i}" for i in range(300, 400)]
    ids += wait_until("submitted after the restart", lambda: _try_submit(h2, more), timeout=30)
    wait_until("400 succeeded", lambda: counts(h3, "succeeded") == 400 or None, timeout=180, every=1)
    ends = cluster.ledger.ends()
    assert all(ends[t] >= 1 for t in [*tokens, *more])
    twice = [t for t in [*tokens, *more] if ends[t] > 1]
    print(f"ran twice after the restart: {twice}")
    assert len(ids) == 400


def _try_submit(d: Daemon, tokens: list[str]) -> list[int] | None:
    try:
        return submit(d, tokens, sleep=0.2)
    except AssertionError:
        return None


def test_a_second_member_with_the_same_name_or_no_database_is_refused(cluster: Cluster) -> None:
    cluster.member("h1", None)
    twin = cluster.member("h1", cluster.nets[1], dir_name="h1-twin", start=False)
    rc, log = twin.run_to_exit()
    assert rc != 0
    assert 'host name "h1" is held by another live member' in log, log[-2000:]

    nowhere = cluster.member("h9", None, start=False)
    nowhere.spec.write_text(nowhere.spec.read_text().replace(cluster.url(None), "postgres://postgres:hunter2@127.0.0.1:1/stockade"))
    rc, log = nowhere.run_to_exit()
    assert rc != 0
    assert "is unreachable" in log, log[-2000:]
    assert "hunter2" not in log


def test_a_schedule_fires_each_slot_once_cluster_wide(cluster: Cluster) -> None:
    every = '\n[job.tick]\ncommand = ["bash", "-c", "echo tick"]\nisolation = "none"\nevery = "2s"\n'
    h1, h2, h3 = cluster.three(extra=every)
    time.sleep(9)
    ticks = jobs(h2, "tick")
    slots = [j["id"] for j in ticks]
    # Three members, one leader: one job per 2s slot, never two.
    assert 3 <= len(ticks) <= 6, ticks
    assert all(j["source"] == "schedule" for j in ticks), ticks
    rows = cluster.pg.psql(
        "SELECT count(*), count(DISTINCT idempotency_key) FROM stockade_job WHERE template = 'tick'", db=cluster.db
    )
    total, distinct = rows.split("|")
    assert total == distinct, rows
    wait_until("ticks ran", lambda: all(h1.get(f"/api/jobs/{i}")["state"] == "succeeded" for i in slots) or None, timeout=20)


def test_a_draining_member_claims_nothing_and_runs_what_it_holds(cluster: Cluster) -> None:
    h1 = cluster.member("h1", None)
    [held] = submit(h1, ["d-held"], sleep=3)
    wait_until("h1 runs it", lambda: cluster.ledger.starts()["d-held"] == 1 or None, timeout=20)
    reply = h1.api("POST", "/api/cluster/drain", {"draining": True})
    assert reply.ok(), reply.body
    assert next(h for h in reply.body["hosts"] if h["name"] == "h1")["state"] == "draining"
    ids = submit(h1, [f"d{i}" for i in range(5)])
    time.sleep(3)
    assert all(h1.get(f"/api/jobs/{i}")["state"] == "queued" for i in ids)
    waiting = h1.get(f"/api/jobs/{ids[0]}")["waiting"]
    assert "no live host" in waiting, waiting
    assert "draining" in h1.get("/api/cluster").get("degraded", ""), h1.get("/api/cluster")
    # What it held ran to its end; another member takes the rest.
    wait_until("held job done", lambda: h1.get(f"/api/jobs/{held}")["state"] == "succeeded" or None, timeout=20)
    cluster.member("h3", cluster.nets[1])
    wait_until("h3 ran the rest", lambda: all(h1.get(f"/api/jobs/{i}")["state"] == "succeeded" for i in ids) or None, timeout=30)
    assert {e.host for e in cluster.ledger.entries() if e.token.startswith("d") and e.token != "d-held"} == {"h3"}
    # The CLI, as a user types it on h1.
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary()), "--socket", str(h1.socket), *args], capture_output=True, text=True, timeout=30)

    table = cli("cluster")
    assert table.returncode == 0, table.stderr
    print(table.stdout)
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.startswith(("h1", "h3"))}
    assert "draining" in rows["h1"] and "live" in rows["h3"], table.stdout
    undo = cli("drain", "--undo")
    assert undo.returncode == 0 and "h1 claims work again" in undo.stdout, (undo.stdout, undo.stderr)
    assert next(h for h in h1.get("/api/cluster")["hosts"] if h["name"] == "h1")["state"] == "live"
