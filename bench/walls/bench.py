#!/usr/bin/env python3
"""Times N sequential sandboxed `/bin/true` runs per peer and prints one table.

Called by run.sh, which installs the peers, builds the busybox bundle and
cleans up. Each peer row is the wall time of `subprocess.run` of the peer's
command line (spawn + wait + its own teardown), measured with perf_counter_ns;
a run that fails is kept as an error, and the first failure of a peer stops
its row with the error in the table (podman may not run on every host).
stockade's rows come from `cargo bench -p stockade-sandbox --bench spawn`
(markdown rows `| metric | median | p90 | ... |`), which times its boxes
in-process: create the cgroup box, spawn, wait, read the evidence, remove it.
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--only", default="bare,unshare,bwrap,runc,podman,stockade")
    p.add_argument("--bundle", required=True)
    p.add_argument("--runc-root", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--podman-args", default="")
    p.add_argument("--sandbox-bench")
    p.add_argument("--results", required=True)
    return p.parse_args()


def quantile(samples, q):
    s = sorted(samples)
    return s[round((len(s) - 1) * q)]


class Row:
    def __init__(self, name, command, samples=None, error=None, source="timed here"):
        self.name, self.command, self.samples = name, command, samples or []
        self.error, self.source = error, source
        self.median_ms = statistics.median(self.samples) if self.samples else None
        self.p90_ms = quantile(self.samples, 0.9) if self.samples else None
        self.is_floor = False


def time_runs(name, argv_for, n, timeout=30):
    """Runs argv_for(i) n times; stops at the first failure and reports it."""
    samples = []
    shown = " ".join(shlex.quote(a) for a in argv_for(0))
    # stderr goes to a file, read only on failure: a pipe would add a
    # select loop to every timed run (~0.5 ms here).
    with tempfile.TemporaryFile() as err_file:
        for i in range(n):
            argv = argv_for(i)
            err_file.seek(0)
            err_file.truncate()
            t = time.perf_counter_ns()
            try:
                r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=err_file, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as e:
                return Row(name, shown, samples, error=f"run {i}: {e}")
            elapsed_ms = (time.perf_counter_ns() - t) / 1e6
            if r.returncode != 0:
                err_file.seek(0)
                err = err_file.read().decode(errors="replace").strip().splitlines()
                return Row(name, shown, samples,
                           error=f"run {i}: exit {r.returncode}: {err[-1] if err else ''}")
            samples.append(elapsed_ms)
    return Row(name, shown, samples)


def parse_duration_ms(text):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(µs|us|ms|s)\s*", text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value * {"µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def sandbox_rows(path):
    """stockade rows of the spawn bench: its floor (std posix_spawn + wait),
    the unwalled cgroup box (`Sandbox <backend>: fresh limited box`) and every
    row naming `walled`."""
    rows = []
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError as e:
        return [Row("stockade", "cargo bench --bench spawn", error=str(e))]
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.startswith("|"):
            continue
        metric = cells[0]
        median, p90 = parse_duration_ms(cells[1]), parse_duration_ms(cells[2])
        if median is None or p90 is None:
            continue
        lower = metric.lower()
        is_floor = lower.startswith("bare spawn+wait") and "floor" in lower
        if is_floor or "walled" in lower or re.match(r"sandbox .+: fresh limited box", lower):
            row = Row(f"stockade: {metric}", "cargo bench -p stockade-sandbox --bench spawn",
                      source="spawn bench (in-process)")
            row.is_floor = is_floor
            row.median_ms, row.p90_ms = median, p90
            rows.append(row)
    if not rows:
        rows.append(Row("stockade", "cargo bench --bench spawn",
                        error=f"no stockade rows in {path}"))
    elif not any("walled" in r.name.lower() and "unwalled" not in r.name.lower() for r in rows):
        rows.append(Row("stockade walled box", "cargo bench --bench spawn",
                        error="the spawn bench has no walled row yet (walls branch not merged)"))
    return rows


def main():
    a = parse_args()
    only = set(a.only.split(","))
    n = a.n
    rows = []
    if "bare" in only:
        rows.append(time_runs("bare fork+exec `/bin/true`", lambda i: ["/bin/true"], n))
    if "unshare" in only:
        rows.append(time_runs("unshare (user, pid, mount, ipc, uts, net)", lambda i: [
            "unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount", "--ipc",
            "--uts", "--net", "true"], n))
    if "bwrap" in only:
        rows.append(time_runs("bwrap --unshare-all", lambda i: [
            "bwrap", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
            "true"], n))
    if "runc" in only:
        rows.append(time_runs("runc run (busybox bundle)", lambda i: [
            "runc", "--root", a.runc_root, "run", "--bundle", a.bundle, f"{a.prefix}-{i}"], n))
    if "podman" in only:
        rootfs = os.path.join(a.bundle, "rootfs")
        base = ["podman", *a.podman_args.split()]
        # podman's default rlimits (nofile and nproc 1048576) are above this
        # host's hard limits and root here lacks CAP_SYS_RESOURCE, so runc
        # fails to set them ("error setting rlimit type 7"): ask for less.
        rows.append(time_runs("podman run --rootfs", lambda i: [
            *base, "run", "--rm", "--network", "none", "--name", f"{a.prefix}-p{i}",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
            "--rootfs", rootfs, "/bin/true"], n, timeout=60))
    if "stockade" in only and a.sandbox_bench:
        rows.extend(sandbox_rows(a.sandbox_bench))

    bare = next((r.median_ms for r in rows if r.name.startswith("bare") and r.median_ms), None)
    bwrap = next((r.median_ms for r in rows if r.name.startswith("bwrap") and r.median_ms), None)
    runc = next((r.median_ms for r in rows if r.name.startswith("runc") and r.median_ms), None)
    bench_floor = next((r.median_ms for r in rows if r.is_floor and r.median_ms), None)
    # Each row against the floor of its own harness: python's spawn for the
    # peers, std's posix_spawn inside the spawn bench for stockade's rows.
    floor_of = lambda r: bench_floor if r.source.startswith("spawn bench") else bare
    above = lambda r: r.median_ms - floor_of(r) if r.median_ms and floor_of(r) else None
    ratio = lambda x, y: f"{x / y:.2f}×" if x and y else "—"
    fmt = lambda ms: f"{ms:.2f} ms" if ms is not None else "—"
    bwrap_row = next((r for r in rows if r.name.startswith("bwrap") and r.median_ms), None)
    runc_row = next((r for r in rows if r.name.startswith("runc") and r.median_ms), None)

    out = []
    out.append(f"N = {n} sequential runs per peer row; host {os.uname().release}, "
               f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at the end")
    out.append("")
    out.append("| what | median | p90 | above its floor | × floor | × bwrap | note |")
    out.append("|---|---|---|---|---|---|---|")
    for r in rows:
        note = r.error if r.error else r.source
        if r.error and r.samples:
            note = f"{len(r.samples)} ok, then {r.error}"
        out.append(f"| {r.name} | {fmt(r.median_ms)} | {fmt(r.p90_ms)} | {fmt(above(r))} | "
                   f"{ratio(r.median_ms, floor_of(r))} | {ratio(r.median_ms, bwrap)} | {note} |")
    walled = [r for r in rows if "walled" in r.name.lower() and "unwalled" not in r.name.lower()
              and r.median_ms]
    out.append("")
    out.append("Targets judged on the cost above each harness's own floor (the peers are "
               "timed around their CLI from python, stockade in-process):")
    for r in walled:
        to_bwrap = above(r) / above(bwrap_row) if bwrap_row and above(bwrap_row) else None
        to_runc = above(runc_row) / above(r) if runc_row and above(r) else None
        verdict = lambda ok: "met" if ok else "NOT met"
        out.append(f"- {r.name}: {to_bwrap:.2f}× bwrap (≤ 1.5×: {verdict(to_bwrap <= 1.5)}), "
                   f"runc is {to_runc:.1f}× slower (≥ 10×: {verdict(to_runc >= 10)})"
                   if to_bwrap and to_runc else f"- {r.name}: no bwrap or runc row to judge")
    if not walled:
        out.append("- no walled row to judge (walled ≤ 1.5× bwrap, ≥ 10× faster than runc)")
    table = "\n".join(out)
    print(table)
    with open(a.results + ".md", "w") as f:
        f.write(table + "\n")
    with open(a.results + ".json", "w") as f:
        json.dump([{"name": r.name, "command": r.command, "median_ms": r.median_ms,
                    "p90_ms": r.p90_ms, "samples_ms": r.samples, "error": r.error}
                   for r in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
