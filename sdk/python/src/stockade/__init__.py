"""stockade: the Python client of the stockade daemon.

    import stockade
    with stockade.Client() as sk:
        job = sk.jobs.submit("agent", args=["--task", "42"], idempotency_key="task-42")
        job.wait(timeout=3600)

Sync (`Client`) and async (`AsyncClient`) drive one sans-IO core (`stockade.core`).
"""

from .aio import AsyncClient, AsyncJob
from .core import job_request
from .errors import (
    Conflict,
    DaemonUnreachable,
    Forbidden,
    Invalid,
    JobFailed,
    NotFound,
    QueueFull,
    StockadeError,
    Unavailable,
    WaitTimeout,
)
from .models import (
    Event,
    ExitCause,
    Exited,
    JobInfo,
    LivenessFailed,
    LogLine,
    Lost,
    OomKilled,
    PidsLimit,
    QueueStatus,
    Signaled,
    SpawnFailed,
    Stopped,
    Submitted,
    TimedOut,
)
from .sync import Client, Job

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "Client",
    "Conflict",
    "DaemonUnreachable",
    "Event",
    "ExitCause",
    "Exited",
    "Forbidden",
    "Invalid",
    "Job",
    "JobFailed",
    "JobInfo",
    "LivenessFailed",
    "LogLine",
    "Lost",
    "NotFound",
    "OomKilled",
    "PidsLimit",
    "QueueFull",
    "QueueStatus",
    "Signaled",
    "SpawnFailed",
    "StockadeError",
    "Stopped",
    "Submitted",
    "TimedOut",
    "Unavailable",
    "WaitTimeout",
    "job_request",
]
