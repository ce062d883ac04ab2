"""Reading /proc: process trees, memory, CPU time, and the machine's own busyness.

Everything here is read-only and tolerates processes vanishing mid-read
(a child can exit between listing and reading it); such reads return None or
are skipped, never raise.
"""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def children(pid):
    """Children of every thread of `pid` (a spawner thread owns its children)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for tid in tids:
        text = read(f"/proc/{pid}/task/{tid}/children")
        if text:
            out.extend(int(p) for p in text.split())
    return out


def comm(pid):
    text = read(f"/proc/{pid}/comm")
    return text.strip() if text is not None else None


def state(pid):
    """The one-letter state from /proc/PID/stat, or None if the pid is gone."""
    text = read(f"/proc/{pid}/stat")
    if text is None:
        return None
    return text[text.rindex(")") + 2]


def alive(pid):
    s = state(pid)
    return s is not None and s not in ("Z", "X")


def descendants(root, known_leaves=frozenset()):
    """Every live descendant of `root` (not root itself), depth first.

    Pids in `known_leaves` are listed but not descended into: a `sleep` has no
    children, and skipping its children file halves the reads while polling a
    tree of 1000 processes.
    """
    out = []
    stack = [root]
    while stack:
        for child in children(stack.pop()):
            out.append(child)
            if child not in known_leaves:
                stack.append(child)
    return out


class SleepCounter:
    """Counts exec'd `sleep` processes under a root, caching what it has seen."""

    def __init__(self, root):
        self.root = root
        self.sleeps = set()

    def poll(self):
        live = set()
        for pid in descendants(self.root, self.sleeps):
            if pid in self.sleeps or comm(pid) == "sleep":
                live.add(pid)
        self.sleeps = live
        return live


def stat_fields(pid):
    """(utime, stime, cutime, cstime, num_threads) in ticks, or None."""
    text = read(f"/proc/{pid}/stat")
    if text is None:
        return None
    f = text[text.rindex(")") + 2 :].split()
    # fields after the comm: state=0 ... utime=11 stime=12 cutime=13 cstime=14 threads=17
    return int(f[11]), int(f[12]), int(f[13]), int(f[14]), int(f[17])


def cpu_ns(pid):
    """On-CPU time of all threads of `pid` from schedstat, in ns (finer than ticks)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for tid in tids:
        text = read(f"/proc/{pid}/task/{tid}/schedstat")
        if text:
            total += int(text.split()[0])
    return total


def rollup(pid):
    """{'Rss': kB, 'Pss': kB, ...} from smaps_rollup."""
    text = read(f"/proc/{pid}/smaps_rollup")
    out = {}
    for line in (text or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            out[parts[0][:-1]] = int(parts[1])
    return out


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return 0


def busy_ticks():
    """(busy, total) jiffies from /proc/stat: busy excludes idle, iowait and steal."""
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = f[:8]
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


def loadavg():
    return read("/proc/loadavg").split()[0]


def own_cpu_ticks():
    t = os.times()
    return (t.user + t.system) * CLK_TCK


class Noise:
    """How busy the rest of the machine was during a phase.

    `other_cores` = machine busy time minus this harness's own CPU and the
    supervisor tree's CPU, over wall time: the CPUs other work (the other
    engineers' builds) took while we measured. Approximate: CPU of processes
    that exited during the phase is not subtracted.
    """

    def __init__(self, tree_ticks):
        self.tree_ticks = tree_ticks
        self.start = (time.monotonic(), busy_ticks()[0], own_cpu_ticks(), tree_ticks())
        self.load_before = loadavg()

    def finish(self):
        t0, b0, o0, s0 = self.start
        wall = time.monotonic() - t0
        busy = busy_ticks()[0] - b0
        own = own_cpu_ticks() - o0
        tree = self.tree_ticks() - s0
        other = max(0.0, (busy - own - tree) / CLK_TCK / wall) if wall > 0 else 0.0
        return {
            "other_cores": round(other, 3),
            "loadavg_before": self.load_before,
            "loadavg_after": loadavg(),
        }


def wait_quiet(max_wait_s, busy_below=0.15):
    """Wait up to `max_wait_s` until the machine is under `busy_below` busy over 1 s.

    Returns the busy fraction seen last and how long we waited.
    """
    start = time.monotonic()
    while True:
        b0, t0 = busy_ticks()
        time.sleep(1.0)
        b1, t1 = busy_ticks()
        frac = (b1 - b0) / max(1, t1 - t0)
        waited = time.monotonic() - start
        if frac < busy_below or waited >= max_wait_s:
            return {"busy_fraction": round(frac, 3), "waited_s": round(waited, 1)}
