"""stockade's own view of each kill, from the `up --json` event stream.

For every killed pid: the run that had it, that run's `run_exited` event and
the unit's next `run_started`. Event `at` stamps are wall-clock milliseconds,
so these splits are only good to ±1 ms; the harness's own kill → pid timing
(perf_counter, 0.2 ms polling) is the measurement, these explain it.
"""

import json

from . import report


def load(path):
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def analyse(path, samples):
    evs = load(path)
    started_by_pid = {}
    exited_by_run = {}
    starts_by_unit = {}
    kinds = {}
    for e in evs:
        kinds[e.get("type")] = kinds.get(e.get("type"), 0) + 1
        if e.get("type") == "run_started":
            started_by_pid[e.get("pid")] = e
            starts_by_unit.setdefault(e.get("unit"), []).append(e)
        elif e.get("type") == "run_exited":
            exited_by_run[e.get("run")] = e
    splits = []
    for s in samples:
        first = started_by_pid.get(s["victim"])
        if not first:
            splits.append({"victim": s["victim"], "missing": "run_started for victim"})
            continue
        exited = exited_by_run.get(first["run"])
        if not exited:
            splits.append({"victim": s["victim"], "missing": "run_exited"})
            continue
        later = [e for e in starts_by_unit.get(first["unit"], []) if e["seq"] > exited["seq"]]
        if not later:
            splits.append({"victim": s["victim"], "missing": "next run_started"})
            continue
        nxt = later[0]
        splits.append({
            "victim": s["victim"],
            "unit": first["unit"],
            "cause": exited.get("cause"),
            "kill_to_exit_event_ms": exited["at"] - s["killed_at_unix_ms"],
            "exit_to_start_event_ms": nxt["at"] - exited["at"],
            "kill_to_start_event_ms": nxt["at"] - s["killed_at_unix_ms"],
            "event_pid_matches": nxt.get("pid") == s["replacement"],
        })
    return {"count_by_type": kinds, "splits": splits}


def footnote(result):
    if not result or "events" not in result:
        return "stockade events: not available"
    ev = result["events"]
    ok = [s for s in ev["splits"] if "missing" not in s]
    missing = len(ev["splits"]) - len(ok)
    lines = ["stockade's own event stamps per kill (ms resolution, wall clock):"]
    for key, label in [
        ("kill_to_exit_event_ms", "kill → run_exited event"),
        ("exit_to_start_event_ms", "run_exited → next run_started (1 ms backoff + box + spawn)"),
        ("kill_to_start_event_ms", "kill → run_started event"),
    ]:
        lines.append(f"- {label}: {report.dist([s[key] for s in ok])}")
    matched = sum(1 for s in ok if s["event_pid_matches"])
    lines.append(f"- run_started pid = replacement the harness saw: {matched}/{len(ok)}"
                 + (f"; {missing} kills without a matching event pair" if missing else ""))
    causes = sorted({json.dumps(s["cause"], sort_keys=True) for s in ok})
    lines.append(f"- exit causes recorded: {', '.join(causes) or '-'}")
    status = result.get("status_after_kills")
    if status:
        lines.append(f"- `stockade status` after the kills: {json.dumps(status, sort_keys=True)}")
    return "\n".join(lines)
