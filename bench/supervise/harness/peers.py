"""The four supervisors under test: how to configure, start and stop each one.

Each peer writes its whole configuration into its own tempdir, is started as a
direct child of the harness (in a new session, so a terminal signal does not
reach it), and every service runs the same `/usr/bin/sleep infinity`. runit
and s6 need a `run` file; theirs is `#!/bin/sh` + `exec`, so their children
pass through one `sh` exec before becoming `sleep` (the pid stays the same).
"""

import glob
import os
import signal
import subprocess

SLEEP = ["/usr/bin/sleep", "infinity"]


class Peer:
    """Base: subclasses set `name` and implement configure/argv/stop."""

    name = "?"

    def __init__(self, workdir, n):
        self.workdir = workdir
        self.n = n
        self.root_pid = None

    def configure(self):
        raise NotImplementedError

    def argv(self):
        raise NotImplementedError

    def stop(self):
        """Ask the running supervisor to stop everything (returns at once)."""
        os.kill(self.root_pid, signal.SIGTERM)

    def version(self):
        return ""

    def after_stop(self):
        """Anything left to remove once every process is gone; returns a report."""
        return {}


def run_script(path):
    os.makedirs(path, exist_ok=True)
    run = os.path.join(path, "run")
    with open(run, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(SLEEP) + "\n")
    os.chmod(run, 0o755)


def package_version(pkg):
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg],
            capture_output=True, text=True, timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


class Stockade(Peer):
    name = "stockade"

    def __init__(self, workdir, n, binary, unit_prefix, monitor_interval=None):
        super().__init__(workdir, n)
        self.binary = binary
        self.unit_prefix = unit_prefix
        # None keeps the default [monitor] (what users get); a value such as
        # "1h" isolates the monitor's share of the idle CPU.
        self.monitor_interval = monitor_interval
        self.spec = os.path.join(workdir, "stockade.toml")
        self.events = os.path.join(workdir, "events.jsonl")

    def unit(self, i):
        return f"{self.unit_prefix}-{i:04d}"

    def configure(self):
        lines = [
            "[daemon]",
            f'state_dir = "{self.workdir}/state"',
            "",
            "[defaults.limits]",
            'memory = "64MiB"',
            "pids = 16",
            "",
        ]
        if self.monitor_interval:
            lines += ["[monitor]", f'interval = "{self.monitor_interval}"', ""]
        cmd = ", ".join(f'"{a}"' for a in SLEEP)
        for i in range(self.n):
            lines += [
                f"[service.{self.unit(i)}]",
                f"command = [{cmd}]",
                'restart = "always"',
                # 1ms is the smallest backoff the spec's duration syntax takes
                # (zero is refused); jitter 0 so every restart waits the same.
                'backoff = { initial = "1ms", max = "1s", jitter = 0.0 }',
                "",
            ]
        with open(self.spec, "w") as f:
            f.write("\n".join(lines))

    def argv(self):
        return [self.binary, "up", "-f", self.spec, "--json"]

    def stdout_path(self):
        return self.events

    def version(self):
        try:
            out = subprocess.run([self.binary, "--version"], capture_output=True,
                                 text=True, timeout=10)
            return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def status(self):
        out = subprocess.run([self.binary, "status", "-f", self.spec, "--json"],
                             capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout, out.stderr

    def box_dirs(self):
        """This run's boxes: only units named with our prefix, in every v1 hierarchy."""
        return glob.glob(f"/sys/fs/cgroup/*/stockade/{self.unit_prefix}-*")

    def after_stop(self):
        left = self.box_dirs()
        removed, failed = 0, []
        # Deepest first, in case a box has sub-cgroups.
        for d in sorted(left, key=len, reverse=True):
            try:
                os.rmdir(d)
                removed += 1
            except OSError as e:
                failed.append(f"{d}: {e.strerror}")
        parents_removed = []
        for parent in glob.glob("/sys/fs/cgroup/*/stockade"):
            try:
                os.rmdir(parent)  # only succeeds when empty: others' boxes stay
                parents_removed.append(parent)
            except OSError:
                pass
        return {
            "boxes_left_after_stop": len(left),
            "boxes_removed_by_harness": removed,
            "boxes_not_removable": failed,
            "empty_parent_dirs_removed": len(parents_removed),
        }


class Supervisord(Peer):
    name = "supervisord"

    def configure(self):
        w = self.workdir
        logs = os.path.join(w, "logs")
        os.makedirs(logs, exist_ok=True)
        lines = [
            "[supervisord]",
            "nodaemon=true",
            f"logfile={w}/supervisord.log",
            f"pidfile={w}/supervisord.pid",
            f"childlogdir={logs}",
            "minfds=16384",
            "",
        ]
        for i in range(self.n):
            lines += [
                f"[program:a{i}]",
                "command=" + " ".join(SLEEP),
                "autorestart=true",
                "startsecs=1",
                "",
            ]
        self.conf = os.path.join(w, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def argv(self):
        return ["/usr/bin/supervisord", "-n", "-c", self.conf]

    def version(self):
        return package_version("supervisor")


class Runit(Peer):
    name = "runit"

    def configure(self):
        self.svdir = os.path.join(self.workdir, "service")
        for i in range(self.n):
            run_script(os.path.join(self.svdir, f"a{i}"))

    def argv(self):
        return ["/usr/bin/runsvdir", "-P", self.svdir]

    def stop(self):
        # runsvdir exits on TERM but leaves its runsv processes running: each
        # runsv is told `d` (TERM its child) and `x` (exit) via its control fifo.
        os.kill(self.root_pid, signal.SIGTERM)
        for control in glob.glob(os.path.join(self.svdir, "*", "supervise", "control")):
            try:
                fd = os.open(control, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                continue  # no reader: that runsv is already gone
            try:
                os.write(fd, b"dx")
            except OSError:
                pass
            finally:
                os.close(fd)

    def version(self):
        return package_version("runit")


class S6(Peer):
    name = "s6"

    def configure(self):
        self.scandir = os.path.join(self.workdir, "scan")
        for i in range(self.n):
            run_script(os.path.join(self.scandir, f"a{i}"))

    def argv(self):
        # -c: the default service limit (500 in 2.11) would be exactly full.
        return ["/usr/bin/s6-svscan", "-c", str(max(1000, 2 * self.n)), self.scandir]

    def stop(self):
        subprocess.run(["/usr/bin/s6-svscanctl", "-t", self.scandir], timeout=30,
                       check=False)

    def version(self):
        return package_version("s6")
