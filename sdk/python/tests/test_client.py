"""The SDK against a real daemon: the README example, typed failures,
idempotent submits, batches, streams that resume across a restart, async."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import pytest

import stockade
from conftest import Daemon


def test_the_readme_example_runs(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKADE_SOCKET", str(daemon.socket))
    with stockade.Client() as sk:
        job = sk.jobs.submit(
            "agent", args=["--task", "42"], env={"SEED": "7"}, idempotency_key="task-42"
        )
        result = job.wait(timeout=60)
        assert result.state == "succeeded"
        assert result.cause == stockade.Exited(code=0)
        lines = [(line.stream, line.text) for line in job.logs(follow=True)]
        assert ("stdout", "task --task 42 seed=7") in lines and ("stderr", "oops") in lines
        assert all(line.ts is not None and line.ts.endswith("Z") for line in job.logs())
        again = sk.jobs.submit("agent", args=["--task", "42"], idempotency_key="task-42")
        assert again.id == job.id, "a retried submission answers the first job"
        status = sk.queue.status()
        assert status.max_concurrency == 16 and status.pools[0].name == "default"
        replicas = sk.services.restart("router")
        assert replicas[0]["service"] == "router"


def test_the_socket_is_found_from_the_spec(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOCKADE_SOCKET", raising=False)
    monkeypatch.chdir(daemon.dir)
    with stockade.Client() as sk:
        assert sk.endpoint.socket == str(Path("state") / "stockade.sock")
        assert sk.status()["pid"] == daemon.proc.pid if daemon.proc else False


def test_a_failed_job_raises_with_a_typed_cause_and_its_postmortem(daemon: Daemon) -> None:
    with stockade.Client(daemon.socket) as sk:
        job = sk.jobs.submit("broken")
        with pytest.raises(stockade.JobFailed) as failed:
            job.wait(timeout=60)
        assert failed.value.state == "failed"
        assert isinstance(failed.value.cause, stockade.Exited) and failed.value.cause.code == 3
        assert failed.value.postmortem is not None
        assert failed.value.postmortem["cause"] == {"kind": "exited", "code": 3}


def test_errors_are_typed_with_the_daemons_hint(daemon: Daemon) -> None:
    with stockade.Client(daemon.socket) as sk:
        with pytest.raises(stockade.NotFound) as missing:
            sk.jobs.submit("nope")
        assert missing.value.code == "unknown_template" and missing.value.hint
        with pytest.raises(stockade.NotFound):
            sk.jobs.get(2**63)
        with pytest.raises(stockade.Invalid) as bad:
            sk.jobs.submit("agent", env={"PATH": "/evil"})
        assert bad.value.code == "env_not_allowed" and "submit_env" in bad.value.hint
        with pytest.raises(stockade.Invalid) as nul:
            sk.jobs.submit("agent", args=["a\0b"])
        assert nul.value.status == 422
        with pytest.raises(stockade.Invalid):
            sk.jobs.list(states=["exploded"])
    with pytest.raises(stockade.DaemonUnreachable):
        with stockade.Client(daemon.dir / "no.sock", timeout=2) as sk:
            sk.queue.status()


def test_a_wait_times_out_and_a_cancel_ends_the_job(daemon: Daemon) -> None:
    with stockade.Client(daemon.socket) as sk:
        slow = sk.jobs.submit("slow")
        with pytest.raises(stockade.WaitTimeout):
            slow.wait(timeout=0.3)
        cancelled = slow.cancel()
        assert cancelled.state in {"cancelled", "running"}
        with pytest.raises(stockade.JobFailed) as ended:
            slow.wait(timeout=30)
        assert ended.value.state == "cancelled"


def test_submit_many_and_list_pages(daemon: Daemon) -> None:
    with stockade.Client(daemon.socket) as sk:
        items = [stockade.job_request("quick", idempotency_key=f"batch-{i}") for i in range(1500)]
        jobs = sk.jobs.submit_many(items)
        assert len({j.id for j in jobs}) == 1500
        again = sk.jobs.submit_many(items[:10])
        assert [j.id for j in again] == [j.id for j in jobs[:10]], "keys answer the first jobs"
        for job in jobs[-5:]:
            job.wait(timeout=120)
        listed = sk.jobs.list(template="quick", limit=1200)
        assert len(listed) == 1200 and listed[0].id > listed[-1].id


def test_events_resume_with_last_event_id_across_a_restart() -> None:
    d = Daemon()
    d.start()
    try:
        with stockade.Client(d.socket) as sk:
            seen: list[stockade.Event] = []
            done = threading.Event()

            def follow() -> None:
                with stockade.Client(d.socket) as reader:
                    for ev in reader.events(since=0, types=["job_state"]):
                        seen.append(ev)
                        if sum(e.data.get("state") == "succeeded" for e in seen) >= 2:
                            done.set()
                            return

            t = threading.Thread(target=follow, daemon=True)
            t.start()
            sk.jobs.submit("quick").wait(timeout=30)
        d.stop()
        d.start()
        with stockade.Client(d.socket) as sk:
            sk.jobs.submit("quick").wait(timeout=30)
        assert done.wait(timeout=30), f"the stream did not resume: {seen}"
        seqs = [e.seq for e in seen]
        assert seqs == sorted(set(seqs)), "no event twice, none out of order"
    finally:
        d.close()


COUNTER = """
[daemon]
state_dir = "state"

[job.count]
command = ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo $i; i=$((i+1)); sleep 0.01; done"]
"""


def test_a_log_follow_resumes_across_a_daemon_kill_without_gap_or_duplicate() -> None:
    d = Daemon(COUNTER)
    d.start()
    try:
        with stockade.Client(d.socket) as sk:
            job = sk.jobs.submit("count")
            got: list[stockade.LogLine] = []
            finished = threading.Event()

            def follow() -> None:
                for line in job.logs(follow=True):
                    got.append(line)
                finished.set()

            t = threading.Thread(target=follow, daemon=True)
            t.start()
            deadline = time.monotonic() + 20
            while len(got) < 50 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert d.proc is not None
            d.proc.send_signal(signal.SIGKILL)  # the daemon dies mid-follow; the box keeps writing
            d.proc.wait()
            d.proc = None
            time.sleep(0.5)
            d.start()
            assert finished.wait(timeout=60), f"the follow did not finish: {len(got)} lines"
        numbers = [int(line.text) for line in got]
        assert numbers == list(range(400)), "a gap or a duplicate across the restart"
        assert all(line.stream == "stdout" and line.ts for line in got)
    finally:
        d.close()


def test_async_client_from_the_same_core(daemon: Daemon) -> None:
    async def main() -> None:
        async with stockade.AsyncClient(daemon.socket) as sk:
            job = await sk.jobs.submit("agent", args=["x"], env={"SEED": "1"})
            info = await job.wait(timeout=60)
            assert info.state == "succeeded"
            lines = [line.text async for line in job.logs()]
            assert "task x seed=1" in lines
            jobs = await sk.jobs.submit_many([stockade.job_request("quick") for _ in range(20)])
            await asyncio.gather(*(j.wait(timeout=60) for j in jobs))
            with pytest.raises(stockade.JobFailed):
                await (await sk.jobs.submit("broken")).wait(timeout=60)
            assert (await sk.queue.status()).pools

    asyncio.run(main())
