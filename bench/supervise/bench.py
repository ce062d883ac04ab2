#!/usr/bin/env python3
"""Supervision benchmark: stockade beside supervisord, runit and s6, in one run.

For each supervisor, in a fresh /tmp/stockade-bench-* dir: start N `sleep
infinity` services and time until all have exec'd; SIGKILL K of them one at a
time (a different one each time) and time kill → replacement pid, and kill →
replacement exec'd; measure the supervisor side at idle (RSS/PSS, threads,
fds, 30 s CPU); stop everything and time it. Prints one markdown table and
writes the raw samples to results/.

Usage: bench.py --stockade target/release/stockade [--n 500] [--kills 20]
       [--idle 30] [--only stockade,runit] [--sandbox-bench FILE]
       bench.py --report results/supervise-<time>.json   # re-print a table
Run it through run.sh, which installs the peers and builds stockade first.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import events, peers, phases, procfs, report

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stockade", help="path to the stockade binary")
    ap.add_argument("--report", metavar="JSON",
                    help="only print the table of an earlier run's results/*.json")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--idle", type=float, default=30.0, help="idle CPU window, seconds")
    ap.add_argument("--only", default=",".join(report.ORDER))
    ap.add_argument("--quiet-wait", type=float, default=15.0,
                    help="wait at most this long for the machine to go quiet per peer")
    ap.add_argument("--sandbox-bench", help="output of `cargo bench -p stockade-sandbox "
                    "--bench spawn`, to quote its join rows")
    ap.add_argument("--stockade-monitor-interval",
                    help="set stockade's [monitor] interval (default: the spec's default)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    return ap.parse_args()


def make_peer(name, workdir, args):
    if name == "stockade":
        prefix = f"bsup{os.getpid()}"
        return peers.Stockade(workdir, args.n, os.path.abspath(args.stockade), prefix,
                              args.stockade_monitor_interval)
    return {"supervisord": peers.Supervisord, "runit": peers.Runit, "s6": peers.S6}[name](
        workdir, args.n)


def run_peer(name, args):
    """All phases for one supervisor; returns its raw result (partial on failure)."""
    workdir = tempfile.mkdtemp(prefix=f"stockade-bench-{name}-", dir="/tmp")
    peer = make_peer(name, workdir, args)
    result = {"name": name, "version": peer.version(), "workdir": workdir}
    log = os.path.join(workdir, "stdout.log")
    if isinstance(peer, peers.Stockade):
        log = peer.stdout_path()
    print(f"== {name} {result['version']}", file=sys.stderr, flush=True)
    result["quiet"] = procfs.wait_quiet(args.quiet_wait)
    peer.configure()
    noise = None
    try:
        noise = procfs.Noise(lambda: phases.tree_ticks_of(peer.root_pid)()
                             if peer.root_pid else 0)
        start_s, originals = phases.start_all(peer, log, timeout_s=120)
        result["start_s"] = start_s
        print(f"   started {args.n} in {start_s:.2f}s", file=sys.stderr, flush=True)
        result["restarts"] = phases.restarts(peer, originals, args.kills, timeout_s=10)
        med = report.median([s["new_pid_ms"] for s in result["restarts"]])
        print(f"   restart median {med:.2f} ms", file=sys.stderr, flush=True)
        if isinstance(peer, peers.Stockade):
            code, out, err = peer.status()
            result["status_after_kills"] = summarize_status(code, out, err)
        time.sleep(2.0)  # let any post-restart work settle before calling it idle
        result["footprint"] = phases.footprint(peer.root_pid)
        result["idle"] = phases.idle_cpu(peer.root_pid, args.idle)
        result["noise"] = noise.finish()
        noise = None
        stop_s, status = phases.stop_all(peer, timeout_s=90)
        result["stop_s"] = stop_s
        result["exit_status"] = status
        print(f"   stopped in {stop_s:.2f}s", file=sys.stderr, flush=True)
    except (phases.PhaseTimeout, OSError, ValueError) as e:
        result["error"] = f"{type(e).__name__}: {e}"
        print(f"   FAILED: {result['error']}", file=sys.stderr, flush=True)
    finally:
        if noise is not None:
            result["noise"] = noise.finish()
        result["leftovers_killed"] = phases.kill_leftovers()
        result["cleanup"] = peer.after_stop()
        if isinstance(peer, peers.Stockade):
            result["events"] = events.analyse(peer.events, result.get("restarts", []))
            result["log_tail"] = tail(log, 20)
        elif "error" in result:
            result["log_tail"] = tail(log, 20)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def summarize_status(code, out, err):
    if code != 0:
        return {"exit_code": code, "stderr": err.strip()[-500:]}
    try:
        doc = json.loads(out)
    except ValueError:
        return {"exit_code": code, "unparsed": out[:500]}
    services = doc.get("services", [])
    states = {}
    for s in services:
        states[s.get("state")] = states.get(s.get("state"), 0) + 1
    return {
        "services": len(services),
        "states": states,
        "restarts_total": sum(int(s.get("restarts") or 0) for s in services),
    }


def git_describe():
    try:
        out = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def tail(path, lines):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-lines:]
    except OSError:
        return []


def sandbox_rows(path):
    """The sandbox spawn benchmark's tables (floor, join alone, box cycle), verbatim."""
    if not path or not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        return [line.rstrip() for line in f
                if line.startswith("|") or line.startswith("backend:")]


def isolated_join(rows):
    """(median, p90) in ms of the sandbox bench's 'v1 join alone, isolated spawns' row."""
    def ms(cell):
        value, unit = cell.strip().split()
        return float(value) / (1000.0 if unit == "µs" else 1.0)
    for line in rows:
        if "join alone, isolated" in line:
            cells = line.split("|")
            return ms(cells[2]), ms(cells[3])
    return None


def fork_to_exec(result):
    samples = (result or {}).get("restarts") or []
    if not samples:
        return None, None
    return (report.median([x["exec_ms"] for x in samples]),
            report.median([x["exec_ms"] - x["new_pid_ms"] for x in samples]))


def migration_share(run):
    """How much of stockade's restart is the child's cgroup join.

    Measured, not assumed: stockade's fork → exec gap (the child joins its 5 v1
    cgroups between the two) against runit's (whose child execs sh, then
    sleep, with no join). The sandbox bench's isolated-join row is quoted
    beside it; its median flips between ~0.06 ms and ~10 ms from run to run
    (the join waits for an RCU grace period or not), so it is not used alone.
    """
    total, gap = fork_to_exec(run["peers"].get("stockade"))
    if total is None:
        return None
    text = (f"cgroup migration in stockade's restart: kill → exec'd median {total:.1f} ms, "
            f"of which fork → exec (the child joins 5 v1 cgroups, then execs) {gap:.1f} ms")
    _, runit_gap = fork_to_exec(run["peers"].get("runit"))
    if runit_gap is not None:
        join = max(0.0, gap - runit_gap)
        text += (f"; runit's fork → exec (sh, then sleep; no cgroups) is {runit_gap:.1f} ms, "
                 f"so the join is ≈ {join:.1f} ms ≈ {100 * join / total:.0f}% of the restart")
    iso = isolated_join(run.get("sandbox_bench_rows", []))
    if iso is not None:
        text += (f". Sandbox bench, v1 join alone with isolated spawns: median {iso[0]:.2f} ms, "
                 f"p90 {iso[1]:.1f} ms")
    return text + "."


def render(run, out):
    """Print the table and its footnotes for one run's raw results."""
    print(report.table(run["peers"], run["n"]))
    print()
    print(events.footnote(run["peers"].get("stockade")))
    if run.get("sandbox_bench_rows"):
        print()
        print("stockade-sandbox spawn benchmark, same run (`cargo bench -p stockade-sandbox --bench spawn`):")
        print("\n".join(run["sandbox_bench_rows"]))
    share = migration_share(run)
    if share:
        print()
        print(share)
    for name, r in run["peers"].items():
        if "error" in r:
            print(f"\n{name} FAILED: {r['error']}")
            for line in r.get("log_tail", []):
                print(f"    {line}")
    print(f"\ntree at {run.get('git', '?')}, stockade binary built "
          f"{run.get('stockade_binary_mtime', '?')}; "
          f"raw samples: {out}")


def main():
    args = parse_args()
    if not args.report and not args.stockade:
        sys.exit("bench.py: --stockade PATH is required (or --report JSON)")
    if args.report:
        with open(args.report) as f:
            render(json.load(f), args.report)
        return
    # A TERM from run.sh's timeout must still run the cleanup in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    phases.become_subreaper()
    # A private copy: others rebuild target/release/stockade at any time, and
    # every phase must run the same binary.
    bindir = tempfile.mkdtemp(prefix="stockade-bench-bin-", dir="/tmp")
    private = os.path.join(bindir, "stockade")
    shutil.copy2(args.stockade, private)
    args.stockade = private
    names = [x for x in args.only.split(",") if x]
    started = time.strftime("%Y%m%dT%H%M%S")
    run = {
        "started": started,
        "stockade_monitor_interval": args.stockade_monitor_interval or "default",
        "n": args.n,
        "kills": args.kills,
        "idle_s": args.idle,
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "loadavg_start": procfs.loadavg(),
        "git": git_describe(),
        "stockade_binary_mtime": time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(args.stockade))),
        "peers": {},
    }
    try:
        for name in names:
            run["peers"][name] = run_peer(name, args)
    finally:
        phases.kill_leftovers()
        shutil.rmtree(bindir, ignore_errors=True)
    run["loadavg_end"] = procfs.loadavg()
    run["sandbox_bench_rows"] = sandbox_rows(args.sandbox_bench)

    os.makedirs(args.results, exist_ok=True)
    out = os.path.join(args.results, f"supervise-{started}.json")
    with open(out, "w") as f:
        json.dump(run, f, indent=1)

    render(run, out)

if __name__ == "__main__":
    main()
