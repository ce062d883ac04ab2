#!/usr/bin/env python3
"""Queue benchmarks of issue 4 item 6: stockade beside pueue and xargs, one run.

Run through ./run.sh (it builds the release binary and installs pueue). Each
measurement is repeated REPS times (default 3) on a fresh daemon and a fresh
state directory; the table shows the median, the range and the ratio to
stockade. Raw per-run values go to results/<stamp>.jsonl, the table to
results/<stamp>.md.

Safety: every process started here is a direct child, stopped by pid
(SIGTERM, then SIGKILL after a deadline); pueued is stopped with
`pueue shutdown` and then by pid. State lives in /tmp/stockade-qbench-* dirs,
removed at the end.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPS = int(os.environ.get("REPS", "3"))
STOCKADE = os.environ.get("STOCKADE", os.path.join(HERE, "../../target/release/stockade"))
PUEUE = os.environ.get("PUEUE", shutil.which("pueue") or os.path.expanduser("~/.cargo/bin/pueue"))
PUEUED = os.environ.get("PUEUED", shutil.which("pueued") or os.path.expanduser("~/.cargo/bin/pueued"))

ONE_BY_ONE = int(os.environ.get("ONE_BY_ONE", "2000"))
BATCHES = int(os.environ.get("BATCHES", "200"))  # of 100 jobs each
CLI_JOBS = int(os.environ.get("CLI_JOBS", "200"))
E2E_JOBS = int(os.environ.get("E2E_JOBS", "2000"))
E2E_PAR = 16
# DEFAULT_LIMITS=1: no [defaults.limits] block, so every box gets the built-in
# defaults (2 GiB, 1,000 pids): what admission sees with a spec that declares
# nothing (issue 11 item 8).
DEFAULT_LIMITS = os.environ.get("DEFAULT_LIMITS", "0") == "1"
DECLARED_LIMITS = """
[defaults.limits]
memory = "64MiB"
pids = 16
"""

SPEC = """
[daemon]
state_dir = "{state}"
{limits}
# Submission benchmarks: one `sleep` holds the only slot, so the `true` jobs
# only queue and the measurement is the durable submit path alone.
[pool.hold]
max_concurrency = 1
max_queued = 1000000

[job.blocker]
command = ["sleep", "3600"]
pool = "hold"

[job.held]
command = ["true"]
pool = "hold"

[pool.p16]
max_concurrency = {e2e_par}
max_queued = 100000

[job.t]
command = ["true"]
pool = "p16"

[pool.p200]
max_concurrency = 200
max_queued = 100000

[job.sleeper]
command = ["sleep", "60"]
pool = "p200"
"""


# ------------------------------------------------------------------ helpers


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the daemon's Unix socket, keep-alive."""

    def __init__(self, path, timeout=60):
        super().__init__("stockade", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class Api:
    def __init__(self, sock_path):
        self.path = sock_path
        self.conn = UnixHTTPConnection(sock_path)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)

    def submit(self, body):
        code, reply = self.call("POST", "/api/jobs", body)
        if code != 201:
            raise RuntimeError(f"submission refused: {code} {reply}")
        return reply

    def pool(self, name):
        _, status = self.call("GET", "/api/queue/status")
        for p in status["pools"]:
            if p["name"] == name:
                return p
        raise KeyError(name)

    def close(self):
        self.conn.close()


def cpu_busy():
    """(busy, total) jiffies of the whole host, steal excluded from busy."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    total = sum(v[:8])
    return total - idle - steal, total


def proc_ticks(pid):
    """utime+stime+cutime+cstime of a live process, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15])
    except OSError:
        return 0


def cpu_split(pid):
    """(own, reaped children) CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        v = [int(x) for x in f.read().rsplit(")", 1)[1].split()[11:15]]
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1]) / hz, (v[2] + v[3]) / hz


def own_ticks(pids):
    t = os.times()
    hz = os.sysconf("SC_CLK_TCK")
    mine = (t.user + t.system + t.children_user + t.children_system) * hz
    return mine + sum(proc_ticks(p) for p in pids)


class HostLoad:
    """CPUs kept busy by others while a run lasted: the host's busy time minus
    this benchmark's own (this process, its reaped children, and the daemon
    under test with the agents it reaped). Other engineers compile here."""

    def __init__(self, *pids):
        self.pids = pids

    def __enter__(self):
        self.start = cpu_busy()
        self.own = own_ticks(self.pids)
        return self

    def __exit__(self, *exc):
        end = cpu_busy()
        own = own_ticks(self.pids) - self.own
        ncpu = os.cpu_count() or 1
        dt = end[1] - self.start[1]
        busy = end[0] - self.start[0]
        self.cores = round(max(0.0, ncpu * (busy - own) / dt), 2) if dt else 0.0


def wait_quiet(max_wait=float(os.environ.get("QUIET_MAX", "30")), below=0.3):
    """Wait (bounded) until the host is nearly idle over one second."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        a = cpu_busy()
        time.sleep(1)
        b = cpu_busy()
        if (os.cpu_count() or 1) * (b[0] - a[0]) / max(1, b[1] - a[1]) < below:
            return True
    return False


def wait_for(what, check, timeout, period=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(period)


def stop_pid(proc, grace=60):
    """SIGTERM our child by pid, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return proc.returncode
    os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return "killed"


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(val.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


class StockadeDaemon:
    """A daemon on a fresh state dir; `spec(state_dir)` gives its spec text
    (default: this benchmark's)."""

    def __init__(self, root, spec=None, prefix="stockade-qbench-", live_within=30):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=root)
        self.state = os.path.join(self.dir, "state")
        self.spec = os.path.join(self.dir, "stockade.toml")
        with open(self.spec, "w") as f:
            f.write(spec(self.state) if spec else
                    SPEC.format(state=self.state, e2e_par=E2E_PAR,
                                limits="" if DEFAULT_LIMITS else DECLARED_LIMITS))
        self.log = open(os.path.join(self.dir, "daemon.log"), "w")
        self.proc = subprocess.Popen(
            [STOCKADE, "daemon", "-f", self.spec],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
            env={**os.environ, "STOCKADE_LOG": "warn"},
        )
        self.sock = os.path.join(self.state, "stockade.sock")

        def live():
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {open(self.log.name).read()}")
            try:
                a = Api(self.sock)
                ok = a.call("GET", "/health/live")[0] == 200
                a.close()
                return ok
            except OSError:
                return False

        wait_for("daemon live", live, live_within)
        self.api = Api(self.sock)

    def stop(self):
        self.api.close()
        t = time.monotonic()
        rc = stop_pid(self.proc)
        self.stop_secs = time.monotonic() - t
        self.log.close()
        self.rc = rc
        return rc


# ------------------------------------------------------------- measurements


def stockade_submit(root):
    """Durable submissions/s: sequential one-by-one POSTs over one keep-alive
    connection, then POSTs of arrays of 100, into a pool whose one slot is held."""
    d = StockadeDaemon(root)
    try:
        d.api.submit({"template": "blocker"})
        wait_for("blocker running", lambda: d.api.pool("hold")["running"] == 1, 30)
        laps = []
        with HostLoad(d.proc.pid) as load1:
            t = time.perf_counter()
            for _ in range(ONE_BY_ONE):
                s = time.perf_counter()
                d.api.submit({"template": "held"})
                laps.append(time.perf_counter() - s)
            one = time.perf_counter() - t
        tenth = max(1, ONE_BY_ONE // 10)
        one_first, one_last = tenth / sum(laps[:tenth]), tenth / sum(laps[-tenth:])
        body = [{"template": "held"} for _ in range(100)]
        laps = []
        with HostLoad(d.proc.pid) as load2:
            t = time.perf_counter()
            for _ in range(BATCHES):
                s = time.perf_counter()
                reply = d.api.submit(body)
                laps.append(time.perf_counter() - s)
                assert len(reply) == 100
            batched = time.perf_counter() - t
        tenth = max(1, BATCHES // 10)
        batch_first, batch_last = 100 * tenth / sum(laps[:tenth]), 100 * tenth / sum(laps[-tenth:])
        queued = d.api.pool("hold")["queued"]
        expected = ONE_BY_ONE + 100 * BATCHES
        if queued != expected:
            raise RuntimeError(f"queued {queued}, expected {expected}")
        # One CLI process per job: what a shell loop over `stockade run` gets.
        with HostLoad(d.proc.pid) as load3:
            t = time.perf_counter()
            for _ in range(CLI_JOBS):
                subprocess.run([STOCKADE, "run", "held", "-f", d.spec], check=True,
                               stdout=subprocess.DEVNULL)
            cli = time.perf_counter() - t
    finally:
        rc = d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
    return [
        {"metric": "submit_one_by_one", "value": ONE_BY_ONE / one, "host_cores": load1.cores},
        {"metric": "submit_one_first", "value": one_first, "host_cores": None},
        {"metric": "submit_one_last", "value": one_last, "host_cores": None},
        {"metric": "submit_batched", "value": 100 * BATCHES / batched, "host_cores": load2.cores},
        {"metric": "submit_batched_first", "value": batch_first, "host_cores": None},
        {"metric": "submit_batched_last", "value": batch_last, "host_cores": None},
        {"metric": "submit_cli", "value": CLI_JOBS / cli, "host_cores": load3.cores},
        {"metric": "submit_daemon_exit", "value": rc, "host_cores": None},
    ]


def stockade_e2e(root):
    """2000 `true` jobs at max_concurrency 16: batches of 100, then wait until
    none is queued or running; time from first submit to that moment."""
    d = StockadeDaemon(root)
    try:
        body = [{"template": "t"} for _ in range(100)]
        cpu0 = cpu_split(d.proc.pid)
        with HostLoad(d.proc.pid) as load:
            t = time.perf_counter()
            for _ in range(E2E_JOBS // 100):
                d.api.submit(body)
            submitted = time.perf_counter() - t

            def done():
                # The pool's counters reach 0/0 a moment before the last
                # job's end is visible in /api/jobs (see README): both must agree.
                p = d.api.pool("p16")
                if p["queued"] or p["running"]:
                    return False
                return d.api.call("GET", "/api/jobs?state=queued,running&limit=1")[1] == []

            wait_for("all jobs finished", done, 600, period=0.02)
            total = time.perf_counter() - t
        cpu1 = cpu_split(d.proc.pid)
        _, ok = d.api.call("GET", f"/api/jobs?state=succeeded&limit={E2E_JOBS + 10}")
        _, bad = d.api.call("GET", "/api/jobs?state=failed,cancelled,expired,rejected&limit=100")
        succeeded = len(ok)
        if succeeded != E2E_JOBS:
            sample = bad[:3]
            print(f"  stockade e2e: only {succeeded}/{E2E_JOBS} succeeded; e.g. {sample}",
                  file=sys.stderr)
    finally:
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
    return [
        {"metric": "e2e_total", "value": total, "host_cores": load.cores,
         "succeeded": succeeded, "submit_secs": submitted},
        {"metric": "e2e_daemon_cpu_ms_per_job", "value": 1000 * (cpu1[0] - cpu0[0]) / E2E_JOBS,
         "host_cores": None},
        {"metric": "e2e_agent_cpu_ms_per_job", "value": 1000 * (cpu1[1] - cpu0[1]) / E2E_JOBS,
         "host_cores": None},
    ]


def stockade_rss(root):
    """RSS and threads of the daemon with 1,000 queued and 200 running."""
    d = StockadeDaemon(root)
    try:
        empty = proc_status(d.proc.pid)
        body = [{"template": "sleeper"} for _ in range(100)]
        t = time.perf_counter()
        for _ in range(12):
            d.api.submit(body)

        def settled():
            p = d.api.pool("p200")
            return p["running"] == 200 and p["queued"] == 1000

        wait_for("200 running, 1000 queued", settled, 120)
        to_running = time.perf_counter() - t
        time.sleep(2)  # let the 200 fresh agents settle before reading RSS
        loaded = proc_status(d.proc.pid)
    finally:
        rc = d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
    return [
        {"metric": "rss_empty_kib", "value": empty["VmRSS"], "host_cores": None},
        {"metric": "threads_empty", "value": empty["Threads"], "host_cores": None},
        {"metric": "rss_loaded_kib", "value": loaded["VmRSS"], "host_cores": None},
        {"metric": "hwm_loaded_kib", "value": loaded["VmHWM"], "host_cores": None},
        {"metric": "threads_loaded", "value": loaded["Threads"], "host_cores": None},
        {"metric": "fds_loaded", "value": loaded["fds"], "host_cores": None},
        {"metric": "to_200_running", "value": to_running, "host_cores": None},
        {"metric": "stop_200_secs", "value": d.stop_secs, "host_cores": None, "rc": rc},
    ]


def pueue_e2e(root):
    """pueue: `pueue parallel 16`, 2000x `pueue add -- true`, `pueue wait`.
    pueue has no batch add; one client call per task is its only way in."""
    base = tempfile.mkdtemp(prefix="stockade-qbench-pueue-", dir=root)
    cfg = os.path.join(base, "pueue.yml")
    with open(cfg, "w") as f:
        f.write(
            "shared:\n"
            f"  pueue_directory: {base}/data\n"
            f"  runtime_directory: {base}/run\n"
            f"  unix_socket_path: {base}/run/pueue.socket\n"
            "daemon:\n"
            "  callback: null\n"
        )
    os.makedirs(os.path.join(base, "run"), mode=0o700)
    log = open(os.path.join(base, "pueued.log"), "w")
    daemon = subprocess.Popen([PUEUED, "-c", cfg], stdin=subprocess.DEVNULL,
                              stdout=log, stderr=log)
    client = [PUEUE, "-c", cfg]
    try:
        def socket_up():
            if daemon.poll() is not None:
                raise RuntimeError(f"pueued exited: {open(log.name).read()}")
            return os.path.exists(f"{base}/run/pueue.socket")

        wait_for("pueued socket", socket_up, 30)
        wait_for("pueued answers", lambda: subprocess.run(
            client + ["status"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0, 30, period=0.05)
        subprocess.run(client + ["parallel", str(E2E_PAR)], check=True, stdout=subprocess.DEVNULL)
        with HostLoad(daemon.pid) as load:
            t = time.perf_counter()
            for _ in range(E2E_JOBS):
                subprocess.run(client + ["add", "--", "true"], check=True,
                               stdout=subprocess.DEVNULL)
            added = time.perf_counter() - t
            subprocess.run(client + ["wait"], check=True, stdout=subprocess.DEVNULL)
            total = time.perf_counter() - t
        out = subprocess.run(client + ["status", "--json"], check=True,
                             capture_output=True, text=True).stdout
        tasks = json.loads(out)["tasks"].values()
        succeeded = sum(1 for task in tasks if "Success" in json.dumps(task.get("status")))
        rss = proc_status(daemon.pid)
    finally:
        subprocess.run(client + ["shutdown"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        stop_pid(daemon, grace=10)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    return [
        {"metric": "e2e_total", "value": total, "host_cores": load.cores,
         "succeeded": succeeded, "submit_secs": added},
        {"metric": "add_rate", "value": E2E_JOBS / added, "host_cores": None},
        {"metric": "rss_after_kib", "value": rss["VmRSS"], "host_cores": None},
        {"metric": "threads_after", "value": rss["Threads"], "host_cores": None},
    ]


def xargs_e2e(_root):
    """The floor: no daemon, no durability, no boxes."""
    with HostLoad() as load:
        t = time.perf_counter()
        subprocess.run(f"seq {E2E_JOBS} | xargs -P{E2E_PAR} -n1 true", shell=True, check=True)
        total = time.perf_counter() - t
    return [{"metric": "e2e_total", "value": total, "host_cores": load.cores,
             "succeeded": E2E_JOBS}]


# ------------------------------------------------------------------ report


def med(rows, tool, metric):
    vals = [r["value"] for r in rows if r["tool"] == tool and r["metric"] == metric]
    vals = [v for v in vals if isinstance(v, (int, float))]
    if not vals:
        return None, None, None, []
    return statistics.median(vals), min(vals), max(vals), vals


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "/s":
        return f"{v:,.0f}/s"
    if unit == "ms":
        return f"{v:.2f} ms"
    if unit == "MiB":
        return f"{v / 1024:.1f} MiB"
    return f"{v:g}"


def cores(rows, tool, metric):
    c = [r["host_cores"] for r in rows
         if r["tool"] == tool and r["metric"] == metric and r.get("host_cores") is not None]
    return ", ".join(f"{x:.2f}" for x in c) if c else "-"


def table(rows):
    out = [
        "| measurement | tool | median | min / max | peer ÷ stockade | runs | other CPUs busy, per run |",
        "|---|---|---|---|---|---|---|",
    ]

    def line(label, tool, metric, unit, base=None):
        m, lo, hi, vals = med(rows, tool, metric)
        ratio = "-"
        if base is not None and m and tool != "stockade":
            ratio = f"{(m / base):.2f}×"
        out.append(
            f"| {label} | {tool} | {fmt(m, unit)} | {fmt(lo, unit)} / {fmt(hi, unit)} | {ratio} "
            f"| {len(vals)} | {cores(rows, tool, metric)} |"
        )

    line(f"durable submits/s, one by one (1 client, keep-alive, sequential POST; queue 0–{ONE_BY_ONE:,})",
         "stockade", "submit_one_by_one", "/s")
    n1, nb = ONE_BY_ONE, ONE_BY_ONE + 100 * BATCHES
    line(f"&nbsp;&nbsp;first tenth (queue 0–{n1 // 10:,})", "stockade", "submit_one_first", "/s")
    line(f"&nbsp;&nbsp;last tenth (queue {n1 - n1 // 10:,}–{n1:,})", "stockade", "submit_one_last", "/s")
    line(f"durable submits/s, batched (POST arrays of 100; queue {n1:,}–{nb:,})", "stockade",
         "submit_batched", "/s")
    line(f"&nbsp;&nbsp;first tenth (queue {n1:,}–{n1 + 10 * BATCHES:,})", "stockade",
         "submit_batched_first", "/s")
    line(f"&nbsp;&nbsp;last tenth (queue {nb - 10 * BATCHES:,}–{nb:,})", "stockade",
         "submit_batched_last", "/s")
    cli, *_ = med(rows, "stockade", "submit_cli")
    line("durable submits/s, one client process per job (`stockade run`)", "stockade", "submit_cli", "/s")
    line("durable submits/s, one client process per job (`pueue add`, while 16 run)", "pueue",
         "add_rate", "/s", cli)
    base, *_ = med(rows, "stockade", "e2e_total")
    for tool, how in [("stockade", "batches of 100, poll until none queued/running"),
                      ("pueue", f"`pueue parallel 16`, {E2E_JOBS}× `pueue add -- true`, `pueue wait`"),
                      ("xargs", f"`seq {E2E_JOBS} \\| xargs -P16 -n1 true`, the floor, not durable")]:
        line(f"{E2E_JOBS} `true` jobs end to end at 16 ({how})", tool, "e2e_total", "s", base)
    for tool in ("stockade", "pueue", "xargs"):
        m, *_ = med(rows, tool, "e2e_total")
        if m:
            out.append(f"| &nbsp;&nbsp;throughput | {tool} | {E2E_JOBS / m:,.0f} jobs/s | | | | |")
    for tool in ("stockade", "pueue"):
        line(f"&nbsp;&nbsp;of which submitting all {E2E_JOBS}", tool, "submit_secs_row", "s")
    line("&nbsp;&nbsp;daemon CPU per job (utime+stime)", "stockade", "e2e_daemon_cpu_ms_per_job", "ms")
    line("&nbsp;&nbsp;agent CPU per job (reaped children)", "stockade", "e2e_agent_cpu_ms_per_job", "ms")
    line("daemon RSS, empty", "stockade", "rss_empty_kib", "MiB")
    line("daemon threads, empty", "stockade", "threads_empty", "")
    line("daemon RSS, 1,000 queued + 200 running `sleep 60`", "stockade", "rss_loaded_kib", "MiB")
    line("daemon peak RSS (VmHWM) at that point", "stockade", "hwm_loaded_kib", "MiB")
    line("daemon threads, 1,000 queued + 200 running", "stockade", "threads_loaded", "")
    line("daemon open fds, 1,000 queued + 200 running", "stockade", "fds_loaded", "")
    line("submit 1,200 → 200 running (200 box spawns)", "stockade", "to_200_running", "s")
    line("SIGTERM → exit with 200 running", "stockade", "stop_200_secs", "s")
    line("pueued RSS after the 2000-task run", "pueue", "rss_after_kib", "MiB")
    line("pueued threads after the 2000-task run", "pueue", "threads_after", "")
    out.append("")
    out.append("peer ÷ stockade: the peer's median over stockade's, in the row's unit (times: "
               ">1× = the peer is slower; rates: <1× = the peer is slower). Other CPUs busy: "
               "the 2-CPU host's /proc/stat busy time during the run minus this benchmark's own "
               "(client, daemon under test, their children); other engineers' builds share the "
               "machine, so compare runs with low values.")
    return "\n".join(out)


def main():
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    root = tempfile.gettempdir()
    rows = []
    plan = [("stockade", stockade_submit), ("stockade", stockade_e2e), ("pueue", pueue_e2e),
            ("xargs", xargs_e2e), ("stockade", stockade_rss)]
    only = os.environ.get("ONLY")
    for rep in range(REPS):
        for tool, fn in plan:
            if only and fn.__name__ not in only.split(","):
                continue
            quiet = wait_quiet()
            print(f"rep {rep + 1}/{REPS}: {fn.__name__} (host quiet first: {quiet})",
                  file=sys.stderr, flush=True)
            for r in fn(root):
                r.update(tool=tool, rep=rep, bench=fn.__name__)
                rows.append(r)
                if "submit_secs" in r:
                    rows.append({"tool": tool, "rep": rep, "metric": "submit_secs_row",
                                 "value": r["submit_secs"], "host_cores": None})
                print(f"  {r}", file=sys.stderr, flush=True)
    with open(os.path.join(results, f"{stamp}.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    failures = [r for r in rows if r["metric"] == "e2e_total" and r.get("succeeded") != E2E_JOBS]
    text = table(rows)
    if failures:
        text += "\n\nruns where not every job succeeded: " + json.dumps(failures)
    rev = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    header = (f"queue benchmarks, {stamp}, REPS={REPS}, host {os.uname().nodename}, "
              f"{os.cpu_count()} CPUs, stockade {os.path.realpath(STOCKADE)} built from {rev}\n\n")
    with open(os.path.join(results, f"{stamp}.md"), "w") as f:
        f.write(header + text + "\n")
    print(header + text)


if __name__ == "__main__":
    main()
