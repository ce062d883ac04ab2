"""The harness itself: Postgres reachable from each namespace, a partition
cuts it and heal restores it, a plain daemon runs inside a namespace and
answers on its socket. If these fail, the cluster scenarios prove nothing."""

from __future__ import annotations

import harness
from conftest import member_spec, requires_cluster_host
from harness import Daemon, Netns, Postgres, wait_until

pytestmark = requires_cluster_host


def psql_from(netns: Netns, pg: Postgres) -> str:
    cmd = [str(harness.PG_BIN / "psql"), f"postgresql://postgres@{netns.root_ip}:{pg.port}/stockade?connect_timeout=2", "-XAtc", "select 'reached ' || host(inet_server_addr())"]
    done = netns.exec(cmd, check=False, timeout=20)
    return done.stdout.strip() if done.returncode == 0 else f"failed: {done.stderr.strip()}"


def test_postgres_is_reachable_from_each_namespace_until_partitioned(pg: Postgres, nets: list[Netns]) -> None:
    assert pg.psql("select 1") == "1"
    for n in nets:
        assert psql_from(n, pg) == f"reached {n.root_ip}"
    cut, other = nets
    cut.partition(cut.root_ip, pg.port)
    try:
        assert not cut.reaches(cut.root_ip, pg.port)
        assert psql_from(cut, pg).startswith("failed: ")
        # Only that namespace is cut; the other one and the root are not.
        assert psql_from(other, pg) == f"reached {other.root_ip}"
        assert pg.psql("select 2") == "2"
    finally:
        cut.heal()
    assert cut.reaches(cut.root_ip, pg.port)
    assert psql_from(cut, pg) == f"reached {cut.root_ip}"


def test_a_namespace_reaches_only_its_own_link(pg: Postgres, nets: list[Netns]) -> None:
    a, b = nets
    # No default route inside: the other namespace's link is unreachable.
    assert not a.reaches(b.root_ip, pg.port, timeout=0.5)
    assert not a.reaches(b.ip, pg.port, timeout=0.5)


def test_a_plain_daemon_runs_inside_a_namespace_and_answers_on_its_socket(nets: list[Netns], workdir: harness.Path) -> None:
    ledger = harness.Ledger(workdir / "ledger")
    spec = member_spec(name="solo", database=None, ledger=ledger.path)
    with Daemon("solo", spec, workdir, nets[0]) as d:
        d.start()
        job = d.submit({"template": "t", "args": ["tok-solo", "0"]})
        done = wait_until("the job to finish", lambda: (v := d.get(f"/api/jobs/{job['id']}"))["state"] in ("succeeded", "failed") and v, 30)
        assert done["state"] == "succeeded", done
        (entry,) = [e for e in ledger.entries() if e.kind == "end"]
        assert (entry.token, entry.host) == ("tok-solo", "solo")
        # The daemon is in the namespace: it sees its veth, not the root's.
        links = harness.run(["nsenter", f"--net={nets[0].path}", "--", "ip", "-o", "link"]).stdout
        assert nets[0].veth_ns in links
        assert harness.Path(f"/proc/{d.proc.pid}/ns/net").resolve() != harness.Path("/proc/self/ns/net").resolve() if d.proc else False
        assert harness.os.readlink(f"/proc/{d.proc.pid}/ns/net") != harness.os.readlink("/proc/self/ns/net") if d.proc else False
