"""Typed views of the daemon's JSON: exit causes, jobs, log lines, events.

Every parser takes the wire JSON (`schema/openapi.json` describes it) and
returns frozen dataclasses; an `ExitCause` is one dataclass per `kind`,
never a string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union, cast

JsonObj = Mapping[str, Any]


@dataclass(frozen=True)
class Exited:
    """The main process exited with a status code."""

    code: int
    kind: Literal["exited"] = "exited"


@dataclass(frozen=True)
class Signaled:
    """Killed by a signal nobody in stockade sent."""

    signal: int
    core_dumped: bool
    kind: Literal["signaled"] = "signaled"


@dataclass(frozen=True)
class OomKilled:
    """The kernel's OOM killer ended the run inside its box."""

    kind: Literal["oom_killed"] = "oom_killed"


@dataclass(frozen=True)
class PidsLimit:
    """The box hit its task limit."""

    kind: Literal["pids_limit"] = "pids_limit"


@dataclass(frozen=True)
class TimedOut:
    """Stopped because it ran past its `timeout`."""

    kind: Literal["timed_out"] = "timed_out"


@dataclass(frozen=True)
class Stopped:
    """Stopped because it was asked to (cancel, stop, shutdown)."""

    kind: Literal["stopped"] = "stopped"


@dataclass(frozen=True)
class LivenessFailed:
    """Stopped because its liveness probe kept failing."""

    kind: Literal["liveness_failed"] = "liveness_failed"


@dataclass(frozen=True)
class SpawnFailed:
    """The program never started."""

    error: str
    message: str
    hint: str
    errno: int | None = None
    kind: Literal["spawn_failed"] = "spawn_failed"


@dataclass(frozen=True)
class Lost:
    """The daemon restarted and the run's processes were gone."""

    kind: Literal["lost"] = "lost"


ExitCause = Union[
    Exited, Signaled, OomKilled, PidsLimit, TimedOut, Stopped, LivenessFailed, SpawnFailed, Lost
]


def exit_cause(obj: JsonObj) -> ExitCause:
    """The dataclass for one wire `ExitCause` (`{"kind": ..., ...}`)."""
    kind = obj.get("kind")
    if kind == "exited":
        return Exited(code=int(obj["code"]))
    if kind == "signaled":
        return Signaled(signal=int(obj["signal"]), core_dumped=bool(obj["core_dumped"]))
    if kind == "spawn_failed":
        errno = obj.get("errno")
        return SpawnFailed(
            error=str(obj["error"]),
            message=str(obj["message"]),
            hint=str(obj["hint"]),
            errno=None if errno is None else int(errno),
        )
    simple: dict[str, ExitCause] = {
        "oom_killed": OomKilled(),
        "pids_limit": PidsLimit(),
        "timed_out": TimedOut(),
        "stopped": Stopped(),
        "liveness_failed": LivenessFailed(),
        "lost": Lost(),
    }
    if isinstance(kind, str) and kind in simple:
        return simple[kind]
    raise ValueError(f"unknown exit cause kind {kind!r}")


TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired", "rejected"})


@dataclass(frozen=True)
class JobInfo:
    """One job as the daemon reports it (`GET /api/jobs/{id}`)."""

    id: int
    template: str
    pool: str
    state: str
    attempt: int
    max_attempts: int
    cause: ExitCause | None
    reason: str | None
    raw: JsonObj = field(repr=False)

    @property
    def finished(self) -> bool:
        """True once the job can change no more."""
        return self.state in TERMINAL


def job_info(obj: JsonObj) -> JobInfo:
    cause = obj.get("cause")
    return JobInfo(
        id=int(obj["id"]),
        template=str(obj["template"]),
        pool=str(obj["pool"]),
        state=str(obj["state"]),
        attempt=int(obj.get("attempt", 0)),
        max_attempts=int(obj.get("max_attempts", 1)),
        cause=None if cause is None else exit_cause(cast(JsonObj, cause)),
        reason=None if obj.get("reason") is None else str(obj["reason"]),
        raw=obj,
    )


@dataclass(frozen=True)
class Submitted:
    """The answer to a submission: its id and where it stands."""

    id: int
    status: str
    position: int
    running: int
    max_concurrency: int


def submitted(obj: JsonObj) -> Submitted:
    queue = cast(JsonObj, obj.get("queue", {}))
    return Submitted(
        id=int(obj["id"]),
        status=str(obj["status"]),
        position=int(queue.get("position", 0)),
        running=int(queue.get("running", 0)),
        max_concurrency=int(queue.get("maxConcurrency", 0)),
    )


@dataclass(frozen=True)
class LogLine:
    """One record of a run's output: its stream (`"stdout"` or `"stderr"`),
    its text, and when the box read it (RFC 3339, UTC, nanoseconds; `None`
    for a line logged before records were tagged). `partial`: a piece of a
    longer line (over 16 KiB, or held 100 ms without a newline) that the
    next record of the same stream continues. `pos` resumes after it."""

    stream: str
    text: str
    ts: str | None = None
    partial: bool = False
    pos: str | None = None


def log_line(obj: JsonObj) -> LogLine:
    ts = obj.get("ts")
    pos = obj.get("pos")
    return LogLine(
        stream=str(obj["stream"]),
        text=str(obj["text"]),
        ts=str(ts) if ts is not None else None,
        partial=bool(obj.get("partial", False)),
        pos=str(pos) if pos is not None else None,
    )


@dataclass(frozen=True)
class Event:
    """One event of `/api/events`: its sequence number, type, unit and fields."""

    seq: int
    type: str
    unit: str
    at: int
    data: JsonObj = field(repr=False)

    @property
    def cause(self) -> ExitCause | None:
        """The exit cause of a `run_exited` event."""
        cause = self.data.get("cause")
        return None if cause is None else exit_cause(cast(JsonObj, cause))


def event(obj: JsonObj) -> Event:
    return Event(
        seq=int(obj["seq"]),
        type=str(obj["type"]),
        unit=str(obj.get("unit", "")),
        at=int(obj.get("at", 0)),
        data=obj,
    )


@dataclass(frozen=True)
class PoolStatus:
    name: str
    running: int
    queued: int
    max_concurrency: int
    utilization_percent: int
    blocking_reason: str | None


@dataclass(frozen=True)
class QueueStatus:
    """`GET /api/queue/status`: totals and every pool."""

    running: int
    queued: int
    max_concurrency: int
    utilization_percent: int
    pools: list[PoolStatus]


def queue_status(obj: JsonObj) -> QueueStatus:
    pools = [
        PoolStatus(
            name=str(p["name"]),
            running=int(p["running"]),
            queued=int(p["queued"]),
            max_concurrency=int(p["max_concurrency"]),
            utilization_percent=int(p["utilization_percent"]),
            blocking_reason=None if p.get("blocking_reason") is None else str(p["blocking_reason"]),
        )
        for p in cast(list[JsonObj], obj.get("pools", []))
    ]
    return QueueStatus(
        running=int(obj["running"]),
        queued=int(obj["queued"]),
        max_concurrency=int(obj["maxConcurrency"]),
        utilization_percent=int(obj["utilizationPercent"]),
        pools=pools,
    )
