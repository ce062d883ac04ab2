"""A real multi-host stockade cluster on one machine (issue 15 item 6).

Three pieces, each a context manager that removes what it made even when a
test fails, and each touching only what it made:

- `Postgres`: a private PostgreSQL (Debian's `postgresql` binaries), initdb
  into a temp dir as the `postgres` user (initdb refuses root), listening on
  127.0.0.1 and on the root-side address of each test network only, trust
  auth for exactly those networks, a database per test.
- `Netns`: a network namespace joined to the root one by a veth pair with a
  /30 on it; `partition()` / `heal()` drop its traffic to Postgres with
  iptables rules *inside* the namespace (the root firewall is never touched).
- `Daemon`: `stockade daemon` on a spec in its own state dir, optionally
  inside a `Netns`; the test talks to it over its Unix socket, which is
  reachable from here whatever network namespace the daemon is in.

`Ledger` reads the shared file the test jobs append to: `start TOKEN HOST
PID MICROS` when a run begins and `end TOKEN HOST PID MICROS` when it
finishes. Exactly once = every token has exactly one `end` line.

Start reading at `Cluster` in `conftest.py`, which wires the three together.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

REPO = Path(__file__).resolve().parents[2]
def _pg_bin() -> Path:
    """`$PG_BIN`, else the newest Debian PostgreSQL (`/usr/lib/postgresql/N/bin`)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
PG_USER = "postgres"
# All test networks are /30s inside this /16; Postgres trusts only these and
# loopback (pg_hba), and listens only on their root-side addresses.
TEST_NET = "10.77.0.0/16"

T = TypeVar("T")


# ------------------------------------------------------------------ helpers


def binary() -> Path:
    """`$STOCKADE_BIN`, else the debug build in `$CARGO_TARGET_DIR` or target/."""
    if os.environ.get("STOCKADE_BIN"):
        return Path(os.environ["STOCKADE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "stockade"


def why_not_runnable() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, iptables, cgroups)"
    for tool in ("ip", "iptables", "nsenter", "runuser"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (.ci/run installs iptables; iproute2 and util-linux are in Debian's base)"
    if not (PG_BIN / "initdb").exists():
        return f"needs PostgreSQL binaries in {PG_BIN} (apt-get install postgresql)"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return "needs the `postgres` user (Debian's postgresql package makes it)"
    if not binary().exists():
        return f"needs {binary()} (cargo build -p stockade-cli, or set STOCKADE_BIN)"
    return None


def wait_until(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    """The first truthy `check()`, polled until `timeout` s; else AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(every)


def run(cmd: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a short command, its output captured; raise with that output on failure."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def free_port() -> int:
    """A TCP port free on every address right now (bound on 0.0.0.0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def mem_available() -> int:
    """`MemAvailable` from /proc/meminfo, in bytes: what the daemons' admission reads."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def process_alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ------------------------------------------------------------------ Postgres


class Postgres:
    """A private PostgreSQL cluster in a temp dir, run as the `postgres` user."""

    def __init__(self, listen: list[str], port: int | None = None) -> None:
        self.listen = ["127.0.0.1", *listen]
        self.port = port or free_port()
        # mkdtemp makes it 0700 root: the whole dir is handed to postgres.
        self.dir = Path(tempfile.mkdtemp(prefix=f"stockade-pg-{os.getpid()}-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        pw = pwd.getpwnam(PG_USER)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._as_pg([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-instructions"])
        conf = [
            f"listen_addresses = '{','.join(self.listen)}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.dir}'",
            "max_connections = 300",
            # Durable as shipped (fsync, synchronous_commit on): the benchmark
            # measures durable submissions.
            "log_connections = off",
            "log_min_messages = warning",
        ]
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n# stockade cluster tests\n" + "\n".join(conf) + "\n")
        # initdb --auth=trust wrote local + 127.0.0.1 + ::1 lines; the test
        # networks are added, nothing wider.
        with open(self.data / "pg_hba.conf", "a") as f:
            f.write(f"host all all {TEST_NET} trust\n")
        self.start()

    def _as_pg(self, cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run(["runuser", "-u", PG_USER, "--", *cmd], timeout=timeout)

    def url(self, via: str = "127.0.0.1", db: str = "stockade") -> str:
        """The URL a member uses to reach database `db` through address `via`."""
        return f"postgres://{PG_USER}@{via}:{self.port}/{db}"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self._as_pg([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop it: `smart`, `fast` (disconnects clients, rolls back) or `immediate` (no checkpoint)."""
        self._as_pg([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def restart(self, mode: str = "fast") -> None:
        """Stop then start: every client connection is cut."""
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        # pg_ctl refuses root, so this runs as `postgres` like the rest.
        done = run(["runuser", "-u", PG_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"], check=False)
        return done.returncode == 0

    def createdb(self, name: str) -> None:
        self._as_pg([str(PG_BIN / "createdb"), "-h", str(self.dir), "-p", str(self.port), name])

    def psql(self, sql: str, db: str = "stockade") -> str:
        """`sql` through the Unix socket; the unaligned, tuples-only output."""
        done = self._as_pg([str(PG_BIN / "psql"), "-h", str(self.dir), "-p", str(self.port), "-d", db, "-XAtc", sql])
        return done.stdout.strip()

    def close(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            if run(["runuser", "-u", PG_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], check=False).returncode != 0:
                self._kill_postmaster()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        # Only the postmaster this object started: its pid from its own data dir.
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"postgres"):
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# ------------------------------------------------------------------ network namespaces


def _used_third_octets() -> set[int]:
    out = run(["ip", "-4", "-o", "addr", "show"]).stdout
    used: set[int] = set()
    for word in out.split():
        if word.startswith("10.77."):
            used.add(int(word.split(".")[2]))
    return used


class Netns:
    """A network namespace `stk<pid>n<i>` with a veth pair to the root namespace.

    Root side 10.77.N.1/30, inside 10.77.N.2/30, N chosen free among the
    root namespace's addresses. No default route inside: it reaches only the
    root side of its own link, which is all a member needs (Postgres).
    """

    def __init__(self, index: int) -> None:
        pid = os.getpid()
        self.name = f"stk{pid}n{index}"
        self.veth_root = f"vr{pid}n{index}"[:15]
        self.veth_ns = f"vn{pid}n{index}"[:15]
        if self.name in run(["ip", "netns", "list"]).stdout.split():
            raise RuntimeError(f"network namespace {self.name} already exists; not touching it")
        used = _used_third_octets()
        start = (pid + index * 37) % 250 + 1
        octet = next(n for n in [*range(start, 255), *range(1, start)] if n not in used)
        self.root_ip = f"10.77.{octet}.1"
        self.ip = f"10.77.{octet}.2"
        self._made_ns = False
        self._rules: list[list[str]] = []
        try:
            run(["ip", "netns", "add", self.name])
            self._made_ns = True
            run(["ip", "link", "add", self.veth_root, "type", "veth", "peer", "name", self.veth_ns, "netns", self.name])
            run(["ip", "addr", "add", f"{self.root_ip}/30", "dev", self.veth_root])
            run(["ip", "link", "set", self.veth_root, "up"])
            run(["ip", "-n", self.name, "addr", "add", f"{self.ip}/30", "dev", self.veth_ns])
            run(["ip", "-n", self.name, "link", "set", self.veth_ns, "up"])
            run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        except BaseException:
            self.close()
            raise

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def prefix(self) -> list[str]:
        """The command prefix that runs a program in this namespace.

        `nsenter --net` rather than `ip netns exec`: the latter also unshares
        the mount namespace and remounts /sys, which hides the cgroup v1
        hierarchies under /sys/fs/cgroup from the daemon (its boxes would
        fall back to no cgroups). Only the network differs between members.
        """
        return ["nsenter", f"--net={self.path}", "--"]

    def exec(self, cmd: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run([*self.prefix(), *cmd], check=check, timeout=timeout)

    def _rule_args(self, pg_ip: str, port: int) -> list[list[str]]:
        return [
            ["OUTPUT", "-d", pg_ip, "-p", "tcp", "--dport", str(port), "-j", "DROP"],
            ["INPUT", "-s", pg_ip, "-p", "tcp", "--sport", str(port), "-j", "DROP"],
        ]

    def partition(self, pg_ip: str, port: int) -> None:
        """Drop every packet between this namespace and Postgres at `pg_ip:port`
        (open connections hang, as in a real partition; nothing is reset)."""
        for rule in self._rule_args(pg_ip, port):
            run(["ip", "netns", "exec", self.name, "iptables", "-w", "-A", *rule])
            self._rules.append(rule)

    def heal(self) -> None:
        """Remove the rules `partition` added."""
        while self._rules:
            rule = self._rules.pop()
            run(["ip", "netns", "exec", self.name, "iptables", "-w", "-D", *rule])

    def reaches(self, ip: str, port: int, timeout: float = 1.0) -> bool:
        """Whether a TCP connect from inside reaches `ip:port` within `timeout` s."""
        probe = (
            "import socket,sys\n"
            f"s=socket.socket(); s.settimeout({timeout})\n"
            f"sys.exit(0 if s.connect_ex(({ip!r},{port}))==0 else 1)\n"
        )
        return self.exec(["python3", "-c", probe], check=False, timeout=timeout + 10).returncode == 0

    def close(self) -> None:
        if self._made_ns:
            run(["ip", "netns", "del", self.name], check=False)
            self._made_ns = False
        # Deleting the namespace deletes the pair; this is for a half-made one.
        if Path(f"/sys/class/net/{self.veth_root}").exists():
            run(["ip", "link", "del", self.veth_root], check=False)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# ------------------------------------------------------------------ daemons


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("stockade", timeout=timeout)
        self.unix_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


@dataclass
class Reply:
    status: int
    body: Any

    def ok(self) -> bool:
        return 200 <= self.status < 300


class Daemon:
    """`stockade daemon` on `spec_text` (which sets `state_dir = "state"`),
    in `<root>/<name>/`, optionally inside `netns`."""

    def __init__(self, name: str, spec_text: str, root: Path, netns: Netns | None = None, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spec = self.dir / "stockade.toml"
        self.spec.write_text(spec_text)
        self.socket = self.dir / "state" / "stockade.sock"
        self.log_path = self.dir / "daemon.log"
        self.netns = netns
        # The driver's own $STOCKADE_DATABASE never leaks in: a member is one
        # because its spec (or `env`) says so.
        inherited = {k: v for k, v in os.environ.items() if k != "STOCKADE_DATABASE"}
        self.env = {**inherited, "STOCKADE_LOG": os.environ.get("STOCKADE_LOG", "info"), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = False

    def command(self) -> list[str]:
        cmd = [str(binary()), "-f", str(self.spec), "daemon"]
        return [*self.netns.prefix(), *cmd] if self.netns else cmd

    def spawn(self) -> None:
        """Start the process without waiting for it."""
        with open(self.log_path, "ab") as log:
            log.write(f"---- harness: start {time.strftime('%H:%M:%S')} {' '.join(self.command())}\n".encode())
            log.flush()
            # nsenter execs the daemon: self.proc.pid is the daemon's pid.
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=self.env, start_new_session=True)

    def start(self, timeout: float = 30) -> Daemon:
        """Start it and wait for `/health/ready`; raise with the log's tail if it exits first."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"daemon {self.name} exited {self.proc and self.proc.returncode} before it was ready:\n{self.log_tail()}")
            try:
                return self.api("GET", "/health/ready", timeout=2).status == 200
            except OSError:
                return False

        try:
            wait_until(f"daemon {self.name} ready", ready, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log_tail()}") from None

    def run_to_exit(self, timeout: float = 60) -> tuple[int, str]:
        """Start it expecting it to fail: its exit code and the log it wrote."""
        self.spawn()
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"daemon {self.name} kept running for {timeout}s:\n{self.log_tail()}") from None
        return rc, self.log()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the daemon alone (its boxes survive it, by design)."""
        self.killed = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL after `timeout`. The exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def restart(self, timeout: float = 30) -> Daemon:
        self.stop()
        return self.start(timeout)

    def api(self, method: str, path: str, body: Any = None, timeout: float = 15) -> Reply:
        conn = UnixHTTPConnection(self.socket, timeout)
        try:
            data = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Reply(resp.status, parsed)
        finally:
            conn.close()

    def get(self, path: str) -> Any:
        reply = self.api("GET", path)
        assert reply.ok(), f"GET {path} on {self.name}: {reply.status} {reply.body}"
        return reply.body

    def submit(self, body: Any) -> Any:
        reply = self.api("POST", "/api/jobs", body, timeout=60)
        assert reply.ok(), f"POST /api/jobs on {self.name}: {reply.status} {reply.body}"
        return reply.body

    def metrics(self) -> str:
        reply = self.api("GET", "/metrics")
        assert reply.ok(), f"GET /metrics on {self.name}: {reply.status}"
        return str(reply.body)

    def metric(self, name: str) -> float:
        """The sum of every sample of metric `name` (all label sets)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(None, 1)[1])
        return total

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"  {self.name}| {line}" for line in self.log().splitlines()[-lines:])

    def close(self) -> None:
        self.stop(timeout=15)
        if self.killed:
            # A SIGKILLed daemon left its boxes (cgroups) behind, by design:
            # the next daemon on this state dir adopts or removes them, and a
            # clean stop removes them all. So start it once more and stop it.
            self.killed = False
            try:
                self.start(timeout=30)
            except (AssertionError, RuntimeError, OSError) as e:
                print(f"could not restart {self.name} to clean its boxes: {e}")
            self.stop(timeout=15)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# ------------------------------------------------------------------ the jobs' ledger


# The test jobs: bash, so the timestamps cost no fork ($EPOCHREALTIME, µs).
# $1 is the token, $2 the seconds to sleep; HOST_TAG and LEDGER come from the
# template's env in each host's spec.
JOB_SCRIPT = (
    'printf "start %s %s %s %s\\n" "$1" "$HOST_TAG" $$ "${EPOCHREALTIME/./}" >> "$LEDGER"; '
    '[ "${2:-0}" = 0 ] || sleep "$2"; '
    'printf "end %s %s %s %s\\n" "$1" "$HOST_TAG" $$ "${EPOCHREALTIME/./}" >> "$LEDGER"'
)


@dataclass(frozen=True)
class Entry:
    kind: str  # "start" | "end"
    token: str
    host: str
    pid: int
    micros: int


class Ledger:
    """The shared append-only file every test job writes to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] in ("start", "end"):
                out.append(Entry(parts[0], parts[1], parts[2], int(parts[3]), int(parts[4])))
        return out

    def ends(self) -> Counter[str]:
        return Counter(e.token for e in self.entries() if e.kind == "end")

    def starts(self) -> Counter[str]:
        return Counter(e.token for e in self.entries() if e.kind == "start")

    def by_token(self, token: str) -> list[Entry]:
        return [e for e in self.entries() if e.token == token]

    def kill_leftovers(self) -> list[int]:
        """SIGKILL job processes still alive that wrote a `start` here: only a
        process whose environment names this ledger (so never a reused pid).
        Boxes outlive a SIGKILLed daemon by design; this cleans up after one."""
        killed: list[int] = []
        marker = f"LEDGER={self.path}".encode()
        for e in self.entries():
            if e.kind != "start" or not process_alive(e.pid):
                continue
            try:
                environ = Path(f"/proc/{e.pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ:
                try:
                    os.killpg(e.pid, signal.SIGKILL) if os.getpgid(e.pid) == e.pid else os.kill(e.pid, signal.SIGKILL)
                    killed.append(e.pid)
                except OSError:
                    pass
        return killed
