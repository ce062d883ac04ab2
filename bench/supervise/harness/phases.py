"""One supervisor through the four phases: start all, kill/restart, idle, stop all.

The harness is a child subreaper, so whatever a supervisor leaves behind is
re-parented to it; `reap()` collects those, and `kill_leftovers()` SIGKILLs,
by pid, whatever still lives in the harness's own tree. Every wait has a
deadline; a missed deadline raises `PhaseTimeout` with what was seen.
"""

import ctypes
import os
import signal
import time

from . import procfs

PR_SET_CHILD_SUBREAPER = 36
POLL_RESTART_S = 0.0002  # same 0.2 ms as the peer baselines, so numbers compare
POLL_START_S = 0.01
SETTLE_BEFORE_KILLS_S = 2.0


class PhaseTimeout(Exception):
    pass


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap():
    """Reap every exited child of the harness; returns {pid: wait status}."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = status


def own_tree():
    return [p for p in procfs.descendants(os.getpid()) if procfs.alive(p)]


def kill_leftovers():
    """SIGKILL every live process in the harness's tree, by pid; returns how many."""
    killed = 0
    for _ in range(50):
        reap()
        left = own_tree()
        if not left:
            return killed
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed


def spawn(argv, stdout_path):
    fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        ]
        return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions,
                              setsid=True)
    finally:
        os.close(fd)


def supervisor_side(root):
    """The supervisor's own processes: root plus every descendant that is not a sleep."""
    pids = [root] + procfs.descendants(root)
    return [p for p in pids if procfs.alive(p) and procfs.comm(p) != "sleep"]


def tree_ticks_of(root):
    def ticks():
        total = 0
        for pid in [root] + procfs.descendants(root):
            f = procfs.stat_fields(pid)
            if f:
                total += f[0] + f[1] + f[2] + f[3]
        return total
    return ticks


def start_all(peer, stdout_path, timeout_s):
    """Spawn the supervisor; seconds until `peer.n` sleeps have exec'd."""
    t0 = time.monotonic()
    peer.root_pid = spawn(peer.argv(), stdout_path)
    counter = procfs.SleepCounter(peer.root_pid)
    deadline = t0 + timeout_s
    seen = 0
    while True:
        seen = len(counter.poll())
        now = time.monotonic()
        if seen >= peer.n:
            return now - t0, sorted(counter.sleeps)
        exited = reap()
        if peer.root_pid in exited:
            raise PhaseTimeout(f"{peer.name} exited during start (status "
                               f"{exited[peer.root_pid]}); {seen}/{peer.n} sleeps had exec'd")
        if now > deadline:
            raise PhaseTimeout(f"{peer.name}: only {seen}/{peer.n} sleeps exec'd "
                               f"after {timeout_s}s")
        time.sleep(POLL_START_S)


def parent_of(pid):
    text = procfs.read(f"/proc/{pid}/stat")
    return int(text[text.rindex(")") + 2 :].split()[1])


def restart_once(victim, timeout_s):
    """SIGKILL `victim`; times to its replacement's pid, and to that pid running sleep.

    The replacement is the first new child of the victim's parent that goes on
    to exec `sleep`: measured the same way for every supervisor. A new child
    that never becomes sleep (s6-supervise forks for `./finish` first) is not
    the replacement; "pid visible" is when the eventual replacement was first seen.
    """
    parent = parent_of(victim)
    before = set(procfs.children(parent))
    first_seen = {}
    wall0 = time.time()
    t0 = time.perf_counter()
    os.kill(victim, signal.SIGKILL)
    deadline = t0 + timeout_s
    while True:
        now = time.perf_counter()
        for kid in procfs.children(parent):
            if kid not in before and kid not in first_seen:
                first_seen[kid] = now
        done = [k for k in first_seen if procfs.comm(k) == "sleep"]
        if done:
            t_exec = time.perf_counter()
            new = done[0]
            break
        if now > deadline:
            raise PhaseTimeout(f"no replacement sleep for pid {victim} under {parent} "
                               f"after {timeout_s}s (new children seen: {sorted(first_seen)})")
        time.sleep(POLL_RESTART_S)
    reap()
    return {
        "victim": victim,
        "replacement": new,
        "killed_at_unix_ms": wall0 * 1000,
        "new_pid_ms": (first_seen[new] - t0) * 1000,
        "exec_ms": (t_exec - t0) * 1000,
        "other_new_children": len(first_seen) - 1,
    }


def restarts(peer, originals, count, timeout_s):
    """Kill `count` different original sleeps, one at a time, waiting for each one's return."""
    # runsv and s6-supervise delay a restart by 1 s when the child ran under 1 s;
    # every original has run longer than that before we start killing.
    time.sleep(SETTLE_BEFORE_KILLS_S)
    stride = max(1, len(originals) // count)
    samples = []
    for k in range(count):
        victim = originals[(k * stride + stride // 2) % len(originals)]
        samples.append(restart_once(victim, timeout_s))
        time.sleep(0.1)  # let the supervisor finish its bookkeeping before the next kill
    return samples


def footprint(root):
    """Supervisor-side memory, threads and fds, plus whole-tree threads."""
    side = supervisor_side(root)
    rss = pss = threads = fds = 0
    for pid in side:
        r = procfs.rollup(pid)
        rss += r.get("Rss", 0)
        pss += r.get("Pss", 0)
        f = procfs.stat_fields(pid)
        threads += f[4] if f else 0
        fds += procfs.fd_count(pid)
    tree_threads = 0
    for pid in [root] + procfs.descendants(root):
        f = procfs.stat_fields(pid)
        tree_threads += f[4] if f else 0
    return {
        "processes": len(side),
        "rss_kib": rss,
        "pss_kib": pss,
        "threads": threads,
        "fds": fds,
        "tree_threads": tree_threads,
    }


def idle_cpu(root, seconds):
    """CPU% of one core used by the supervisor side over `seconds` of idle."""
    side = supervisor_side(root)

    def sample():
        ticks = ns = 0
        for pid in side:
            f = procfs.stat_fields(pid)
            if f:
                ticks += f[0] + f[1]
            ns += procfs.cpu_ns(pid)
        return ticks, ns

    t0 = time.monotonic()
    ticks0, ns0 = sample()
    time.sleep(seconds)
    ticks1, ns1 = sample()
    wall = time.monotonic() - t0
    return {
        "cpu_pct_ticks": 100.0 * (ticks1 - ticks0) / procfs.CLK_TCK / wall,
        "cpu_pct_schedstat": 100.0 * (ns1 - ns0) / 1e9 / wall,
        "cpu_ms_schedstat": (ns1 - ns0) / 1e6,
        "seconds": wall,
    }


def stop_all(peer, timeout_s):
    """Ask the supervisor to stop; seconds until it and every process it started are gone."""
    t0 = time.monotonic()
    peer.stop()
    deadline = t0 + timeout_s
    root_status = None
    while True:
        exited = reap()
        if peer.root_pid in exited:
            root_status = exited[peer.root_pid]
        if root_status is not None and not own_tree():
            return time.monotonic() - t0, root_status
        if time.monotonic() > deadline:
            raise PhaseTimeout(f"{peer.name}: {len(own_tree())} processes still alive "
                               f"{timeout_s}s after stop")
        time.sleep(0.002)
