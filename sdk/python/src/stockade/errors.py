"""Exceptions: the daemon's `{"code","message","hint"}` mapped to types."""

from __future__ import annotations

from typing import Any, Mapping, cast

from .models import ExitCause


class StockadeError(Exception):
    """Any error the daemon answered, with its stable `code` and `hint`."""

    def __init__(self, status: int, code: str, message: str, hint: str) -> None:
        super().__init__(f"{message} ({code}); {hint}" if hint else f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint


class Invalid(StockadeError):
    """400 or 422: the request does not fit; `hint` says what would."""


class NotFound(StockadeError):
    """404: no such job, service, template, run or route."""


class Conflict(StockadeError):
    """409: not possible in the object's state (e.g. cancel of a finished job)."""


class Forbidden(StockadeError):
    """401 or 403: a wrong or missing token, a foreign Host or Origin."""


class QueueFull(StockadeError):
    """429: the pool's queue is full, or too many requests; retry after `retry_after` s."""

    def __init__(
        self, status: int, code: str, message: str, hint: str, retry_after: float | None
    ) -> None:
        super().__init__(status, code, message, hint)
        self.retry_after = retry_after


class Unavailable(StockadeError):
    """503: the daemon is shutting down or not ready."""


class DaemonUnreachable(StockadeError):
    """No daemon answered: no socket, no permission on it, or a refused connection."""

    def __init__(self, where: str, why: str) -> None:
        hint = "start it with `stockade up` or `stockade daemon`, or check STOCKADE_SOCKET"
        if "ermission" in why:
            hint = "the socket is the daemon user's (mode 0600) or its socket_group's; run as one of them"
        super().__init__(0, "daemon_unreachable", f"no daemon at {where}: {why}", hint)
        self.where = where


class JobFailed(StockadeError):
    """`job.wait()` found the job ended badly: `.cause` and `.postmortem` say how."""

    def __init__(
        self,
        job: int,
        state: str,
        cause: ExitCause | None,
        reason: str | None,
        postmortem: Mapping[str, Any] | None,
    ) -> None:
        what = f"job {job} {state}" + (f": {reason}" if reason else "")
        super().__init__(0, "job_failed", what, "see .cause and .postmortem")
        self.job = job
        self.state = state
        self.cause = cause
        self.reason = reason
        self.postmortem = postmortem


class WaitTimeout(StockadeError):
    """`job.wait(timeout)` ran out before the job ended."""


def from_response(status: int, body: Any, retry_after: str | None) -> StockadeError:
    """The exception for a non-2xx answer."""
    obj: Mapping[str, Any] = cast(Mapping[str, Any], body) if isinstance(body, dict) else {}
    code = str(obj.get("code", f"http_{status}"))
    message = str(obj.get("message", f"HTTP {status}"))
    hint = str(obj.get("hint", ""))
    if status == 429:
        try:
            after = float(retry_after) if retry_after is not None else None
        except ValueError:
            after = None
        return QueueFull(status, code, message, hint, after)
    kinds: dict[int, type[StockadeError]] = {
        400: Invalid,
        422: Invalid,
        401: Forbidden,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        503: Unavailable,
    }
    return kinds.get(status, StockadeError)(status, code, message, hint)
