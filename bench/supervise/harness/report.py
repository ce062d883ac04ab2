"""Turning raw samples into the one markdown table (and its footnotes)."""

import statistics

ORDER = ["stockade", "supervisord", "runit", "s6"]


def median(xs):
    return statistics.median(xs) if xs else None


def p90(xs):
    """Nearest-rank p90: with 20 samples, the 18th smallest."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, -(-len(s) * 9 // 10) - 1)]


def fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def dist(xs):
    """'median (p90 x, n=20)' for sampled metrics."""
    if not xs:
        return "-"
    return f"{fmt(median(xs))} (p90 {fmt(p90(xs))}, n={len(xs)})"


def cell(result, metric):
    """A failed peer keeps the phases it finished; the rest show '-'."""
    if result is None:
        return "-"
    return metric_cell(result, metric)


def metric_cell(r, metric):
    fp, idle = r.get("footprint", {}), r.get("idle", {})
    table = {
        "start": lambda: fmt(r.get("start_s")),
        "restart_pid": lambda: dist([s["new_pid_ms"] for s in r.get("restarts", [])]),
        "restart_exec": lambda: dist([s["exec_ms"] for s in r.get("restarts", [])]),
        "pid_to_exec": lambda: dist([s["exec_ms"] - s["new_pid_ms"] for s in r.get("restarts", [])]),
        "processes": lambda: fmt(fp.get("processes")),
        "rss": lambda: fmt(fp["rss_kib"] / 1024) if fp else "-",
        "pss": lambda: fmt(fp["pss_kib"] / 1024) if fp else "-",
        "threads": lambda: fmt(fp.get("threads")),
        "tree_threads": lambda: fmt(fp.get("tree_threads")),
        "fds": lambda: fmt(fp.get("fds")),
        "cpu_ticks": lambda: fmt(idle.get("cpu_pct_ticks")),
        "cpu_sched": lambda: fmt(idle.get("cpu_pct_schedstat")),
        "stop": lambda: fmt(r.get("stop_s")),
        "noise": lambda: fmt(r.get("noise", {}).get("other_cores")),
        "load": lambda: "{}→{}".format(r.get("noise", {}).get("loadavg_before", "?"),
                                       r.get("noise", {}).get("loadavg_after", "?")),
    }
    return table[metric]()


ROWS = [
    ("start", "start all N: until N `sleep` exec'd (s)"),
    ("restart_pid", "kill -9 one child → replacement pid visible (ms)"),
    ("restart_exec", "kill -9 one child → replacement has exec'd `sleep` (ms)"),
    ("pid_to_exec", "  of which: replacement pid visible → exec'd `sleep` (ms)"),
    ("processes", "supervisor-side processes"),
    ("rss", "supervisor-side RSS, idle, summed (MiB)"),
    ("pss", "supervisor-side PSS, idle, summed (MiB)"),
    ("threads", "supervisor-side threads"),
    ("tree_threads", "threads incl. the N sleeps (whole tree)"),
    ("fds", "supervisor-side open fds"),
    ("cpu_ticks", "idle CPU % of one core, 30 s (utime+stime)"),
    ("cpu_sched", "idle CPU % of one core, 30 s (schedstat ns)"),
    ("stop", "stop all: until every process is gone (s)"),
    ("noise", "other_cores: CPUs used by others during the run"),
    ("load", "loadavg (1 min) before→after"),
]


def ratio(results, key):
    base = key(results.get("stockade"))
    out = []
    for name in ORDER[1:]:
        v = key(results.get(name))
        if base and v is not None:
            out.append(f"{name} {v / base:.3g}×")
        else:
            out.append(f"{name} -")
    return ", ".join(out)


def restart_median(r):
    if not r or not r.get("restarts"):
        return None
    return median([s["new_pid_ms"] for s in r["restarts"]])


def pss_mib(r):
    if not r or not r.get("footprint"):
        return None
    return r["footprint"]["pss_kib"] / 1024


def table(results, n):
    names = [name for name in ORDER if name in results]
    lines = [
        f"| metric (N = {n}) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for metric, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(results[x], metric) for x in names) + " |")
    lines.append("")
    lines.append("ratio vs stockade (peer ÷ stockade; >1 means stockade is lower):")
    lines.append(f"- restart, kill → new pid, median: {ratio(results, restart_median)}")
    lines.append(f"- supervisor-side PSS: {ratio(results, pss_mib)}")
    return "\n".join(lines)
